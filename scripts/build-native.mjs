// Builds libvramlab (core + CPU backend, and the CUDA plugin when nvcc is found) with CMake into
// native/build. Runs as the package's install script, so `npm install` builds everything.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = join(root, 'native', 'build');
const jobs = process.env.VRAMLAB_BUILD_JOBS ?? '2';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.error) {
    console.error(`vramlab: cannot run ${cmd} (${r.error.message}); install CMake >= 3.20 and a C++17 compiler`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`vramlab: ${cmd} ${args.join(' ')} failed with status ${r.status}`);
    process.exit(r.status ?? 1);
  }
}

const extra = process.env.VRAMLAB_CMAKE_ARGS ? process.env.VRAMLAB_CMAKE_ARGS.split(' ').filter(Boolean) : [];
run('cmake', ['-S', join(root, 'native'), '-B', build, '-DCMAKE_BUILD_TYPE=Release', ...extra]);
run('cmake', ['--build', build, '-j', jobs]);
