// The packed @kvbox/kvbox loaded with require() from CommonJS (require(esm),
// Node ^20.19 / >=22.12): the same round trip and typed error as main.ts.
const { loadConnector, FS_CONNECTOR, InvalidKeyError } = require('@kvbox/kvbox');

(async () => {
  const store = await loadConnector(FS_CONNECTOR, { root: process.argv[2], cacheDir: false });
  await store.put('cjs', Buffer.from('from CommonJS'));
  const back = await store.get('cjs');
  let code;
  try {
    await store.get('');
  } catch (err) {
    if (err instanceof InvalidKeyError) code = err.code;
  }
  await store.close();
  console.log(JSON.stringify({ node: process.version, roundTrip: back.toString() === 'from CommonJS', code }));
})();
