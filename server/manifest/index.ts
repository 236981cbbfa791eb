/**
 * The environment manifest: what a deployment of the starter consists of, as data. Functions with
 * their runtime settings and variable groups, the variables with their kinds, defaults and ranges,
 * the collections with their indexes and security rules. Read by the functions' settings loader
 * (server/lib), the build and deploy scripts, the sandbox and the docs check; it imports nothing but
 * the shared contracts.
 */
export * from './collections';
export * from './functions';
export * from './variables';
