/**
 * ladybug-store/level: the abstract-level adapter, the package's second entry
 * point (package.json exports "./level").
 */
export { LadybugLevel, CLEAR_CHUNK_KEYS, type LadybugLevelOptions } from './ladybug-level.js';
export { ForeignValueError } from '../errors.js';
export { LevelLockedError } from './level-locked-error.js';
