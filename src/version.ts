// The package version, recorded in every file saelab writes.
export const SAELAB_VERSION = '0.1.0';
