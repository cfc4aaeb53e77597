// The browser client as an npm package: what `npm pack` puts in it, that an install of the
// packed file imports under its name, and that its declarations name what the code has.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const PACKAGE_DIR = fileURLToPath(new URL('../../service/static/', import.meta.url));
const MANIFEST = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8'));
const MODULES = MANIFEST.files.filter((file) => file.endsWith('.js'));
// The client is several modules; what it reads and emits is looked for in all of them.
const SOURCE = MODULES.map((file) => readFileSync(join(PACKAGE_DIR, file), 'utf8')).join('\n');
const TYPES = readFileSync(join(PACKAGE_DIR, 'graphql-token.d.ts'), 'utf8');
const DECLARATIONS = TYPES.replace(/\/\*[\s\S]*?\*\//g, ''); // without comments, whose prose may hold brackets
const HAS_NPM = spawnSync('npm', ['--version']).status === 0;
// Locally a missing npm skips (with how to get it); under CI=true it fails, like the other tiers.
const NO_NPM = !HAS_NPM && process.env.CI !== 'true' && 'npm is missing: apt-get install npm';

describe('npm pack', { skip: NO_NPM }, () => {
  let work;
  const npm = (args, cwd) =>
    execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd,
      encoding: 'utf8',
      // A cache of its own: the install must work from the packed file alone, offline.
      env: { ...process.env, npm_config_cache: join(work, 'cache'), npm_config_update_notifier: 'false' },
    });

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'graphql-token-pack-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('the package holds the client modules, its declarations and package.json only', () => {
    const [packed] = JSON.parse(npm(['pack', '--dry-run', '--json'], PACKAGE_DIR));
    assert.equal(packed.name, '@gts/graphql-token');
    assert.deepEqual(
      packed.files.map((file) => file.path).sort(),
      [...MANIFEST.files, 'package.json'].sort(),
    );
  });

  test('a project that installs the packed file imports it by name', () => {
    const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', work], PACKAGE_DIR));
    const project = join(work, 'project');
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
    npm(['install', '--offline', join(work, packed.filename)], project);
    const script = `
      import { createTokenClient, GraphQLRequestError, isUnauthorized, TokenClient, TokenError }
        from '@gts/graphql-token';
      const fetch = async () => new Response(
        JSON.stringify({ token: 'tok', expires_in: 300, organization_id: 'org_1' }),
        { status: 200, headers: { 'Content-Type': 'application/json' } });
      const client = createTokenClient({ fetch, channel: null, locks: null });
      const token = await client.getToken();
      client.stop();
      console.log(JSON.stringify({
        token,
        isClient: client instanceof TokenClient,
        errors: [new TokenError('x').code, new GraphQLRequestError('y').code],
        unauthorized: isUnauthorized({ errors: [{ message: 'Unauthorized' }] }),
        types: import.meta.resolve('@gts/graphql-token').endsWith('/graphql-token.js'),
      }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: project,
      encoding: 'utf8',
    });
    assert.deepEqual(JSON.parse(out), {
      token: 'tok',
      isClient: true,
      errors: ['unknown', 'graphql_request_failed'],
      unauthorized: true,
      types: true,
    });
    const installed = join(project, 'node_modules', '@gts', 'graphql-token');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    assert.equal(readFileSync(join(installed, manifest.exports['.'].types), 'utf8'), TYPES);
  });
});

/** The names declared inside `{ ... }` after `header` in the declarations (not parameters). */
function declaredMembers(header) {
  const start = DECLARATIONS.indexOf(header);
  assert.notEqual(start, -1, `${header} is not declared`);
  let depth = 0;
  let parens = 0;
  let body = '';
  for (const char of DECLARATIONS.slice(DECLARATIONS.indexOf('{', start))) {
    depth += char === '{' ? 1 : char === '}' ? -1 : 0;
    if (char === ')') parens -= 1;
    if (depth === 1 && parens === 0 && char !== '{') body += char;
    if (char === '(') parens += 1;
    if (depth === 0) break;
  }
  return new Set([...body.matchAll(/^\s*(\w+)\??[(:<]/gm)].map((match) => match[1]));
}

/** The modules `entry` imports, itself included, following relative imports. */
function importClosure(entry) {
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(PACKAGE_DIR, file), 'utf8');
    for (const [, imported] of text.matchAll(/^(?:import|export)\b[^;]*?from '\.\/([\w.-]+)'/gm)) visit(imported);
  };
  visit(entry);
  return [...seen];
}

describe('the package lists its modules', () => {
  test('`files` names every module the client imports, and no other', () => {
    assert.deepEqual(importClosure('graphql-token.js').sort(), [...MODULES].sort());
    assert.ok(MANIFEST.files.includes('graphql-token.d.ts'));
  });
});

describe('the declarations match the code', () => {
  test('every runtime export is declared, and nothing more', async () => {
    const module = await import('../../service/static/graphql-token.js');
    const declared = [...DECLARATIONS.matchAll(/^export (?:class|function) (\w+)/gm)].map((m) => m[1]);
    assert.deepEqual(declared.sort(), Object.keys(module).sort());
  });

  test('every option the constructor reads is declared, and nothing more', () => {
    const read = new Set([...SOURCE.matchAll(/options\.(\w+)/g)].map((match) => match[1]));
    assert.deepEqual([...declaredMembers('export interface TokenClientOptions')].sort(), [...read].sort());
  });

  test('every public method is declared, and nothing more', async () => {
    const { TokenClient } = await import('../../service/static/graphql-token.js');
    const methods = Object.getOwnPropertyNames(TokenClient.prototype).filter((name) => name !== 'constructor');
    const declared = declaredMembers('export class TokenClient extends EventTarget');
    for (const inherited of ['constructor', 'addEventListener', 'removeEventListener']) declared.delete(inherited);
    assert.deepEqual([...declared].sort(), methods.sort());
  });

  test('every event the client emits is in the event map, and nothing more', () => {
    const emitted = new Set([...SOURCE.matchAll(/#emit\('(\w+)'/g)].map((match) => match[1]));
    assert.deepEqual([...declaredMembers('export interface TokenClientEventMap')].sort(), [...emitted].sort());
  });
});
