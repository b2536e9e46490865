// `kazashi/testing` for Node (ESM): the same instance as `require('kazashi/testing')`.
import testing from './testing.cjs';

export const { VirtualSecureElement, initialize } = testing;
