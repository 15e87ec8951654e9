// Imports @kvbox/kvbox installed without its platform package: the import
// must fail with the typed error that names the platform and what to do.
try {
  await import('@kvbox/kvbox');
  console.log(JSON.stringify({ loaded: true }));
} catch (err) {
  console.log(JSON.stringify({ loaded: false, name: err.name, code: err.code, message: err.message }));
}
