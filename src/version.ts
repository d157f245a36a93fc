/** The package version, kept equal to package.json's "version" (a test checks). A constant, not a file read,
 * so that library code needs neither import.meta nor a path to package.json. */
export const VERSION = '0.1.0';

/** The `createdBy` string recorded in traces and run manifests. */
export const CREATED_BY = `clusterkv-lab ${VERSION}`;
