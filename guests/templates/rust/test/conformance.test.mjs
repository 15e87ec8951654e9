// The kvbox conformance suite as node:test tests, one per case (any runner
// works the same way: loop over conformanceCases).
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { compileConnector } from '@kvbox/kvbox';
import { conformanceCases } from '@kvbox/kvbox/conformance';

const component = await compileConnector(new URL('../dist/{{name}}.wasm', import.meta.url));
// A disk-backed directory: O_DIRECT on tmpfs proves nothing.
const base = mkdtempSync(join(process.env.KVBOX_TEST_DIR ?? '/var/tmp', '{{name}}-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const tenant = () => join(base, `t${++n}`);
const open = (root, limits) => component.open({ root, limits });

for (const c of conformanceCases) test(c.name, () => c.run({ open, tenant }));
