import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

/**
 * What the Lambdas load uses `zod/mini`: the same engine as classic zod, its checks as functions,
 * so a bundle carries only what it uses. zod/mini leaves error messages to a locale; this module
 * (imported for its effect by every module that builds zod/mini schemas) sets the English one,
 * whose messages classic zod gives and `leakwatch` prints. An explicit `config` elsewhere wins.
 */
config(en());
