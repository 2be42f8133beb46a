#!/usr/bin/env node
'use strict';
const path = require('node:path');
const entry = path.join(__dirname, '..', 'dist', 'src', 'main.js');
try {
  require.resolve(entry);
} catch {
  process.stderr.write('kvcache-bot: the compiled program is missing (dist/); run `npm ci` or `npm run build` in the kvcache-bot folder\n');
  process.exit(1);
}
require(entry);
