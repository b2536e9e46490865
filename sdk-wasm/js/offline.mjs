// `kazashi/offline` for Node (ESM): the same instance as `require('kazashi/offline')`.
import offline from './offline.cjs';

export const { OfflineReader, OfflineHolder, initialize } = offline;
