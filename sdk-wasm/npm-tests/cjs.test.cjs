// The package loaded with `require` (Node CommonJS: node.cjs).
'use strict';

const register = require('./interop.cjs');

register(require('kazashi'), 'CommonJS');
