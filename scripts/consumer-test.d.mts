// Types of scripts/consumer-test.mjs for TypeScript importers (the tests).
/** The ```LANG block after `marker` in the README. */
export function readmeBlock(readme: string, marker: string, lang: string): string;
/** The README's library example: the ```js block after <!-- library-example -->. */
export function readmeExample(readme: string): string;
/** The README's install lines: the ```sh block after <!-- install -->, without comments. */
export function readmeInstall(readme: string): string[];
