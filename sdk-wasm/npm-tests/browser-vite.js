// The Vite-bundled page: the package imported by name, as an application would.
import * as kazashi from 'kazashi';
import { runScenario, verifyOnly } from './browser-scenario.js';

window.verifyOnly = (params) => verifyOnly(kazashi, params);
window.runScenario = async (params) => runScenario(kazashi, await import('kazashi/testing'), params);
window.kazashiReady = true;
