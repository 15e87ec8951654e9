/** `kvbox new`: a connector project from a template. */
import { relative } from 'node:path';
import { type Command, Option } from 'commander';
import { LANGS } from '../author/project.js';
import { InvalidArgumentError } from '../errors.js';
import { newProject } from '../author/templates.js';
import { printJson } from './output.js';

/** Registers `kvbox new`. */
export function register(program: Command): void {
  program
    .command('new')
    .summary('make a connector project (Rust, JavaScript or C) that passes conformance as it is')
    .description('write a small, buildable connector project: sources, kvbox.json (its manifest), README, .gitignore and a test')
    .argument('<name>', 'the connector name: lowercase letters, digits and dashes')
    .addOption(new Option('-l, --lang <lang>', 'the language').choices(LANGS).default('rust'))
    .option('-d, --dir <dir>', 'where to write it [./<name>]')
    .option('--json', 'print what was written as JSON')
    .action((name: string, flags: { lang: string; dir?: string; json?: boolean }, self: Command) => {
      let made: ReturnType<typeof newProject>;
      try {
        made = newProject(name, flags.lang, flags.dir);
      } catch (err) {
        // A bad name or a directory in the way is a usage error (exit 2), like a bad --lang.
        if (err instanceof InvalidArgumentError) self.error(err.message);
        throw err;
      }
      if (flags.json) return printJson(made);
      const cd = relative(process.cwd(), made.dir) || '.';
      console.log(`kvbox: wrote a ${flags.lang} connector in ${made.dir}\n\nnext:\n  cd ${cd}\n  npm install\n  kvbox build\n  kvbox test dist/${name}.wasm`);
    });
}
