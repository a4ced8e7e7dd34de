/**
 * ladybug-store/level: the abstract-level adapter, the package's second entry
 * point (package.json exports "./level").
 */
export { LadybugLevel, type LadybugLevelOptions } from './ladybug-level.js';
export { CLEAR_CHUNK_KEYS } from './clear-chunks.js';
export { ForeignValueError } from '../errors.js';
export { LevelLockedError } from './level-locked-error.js';
