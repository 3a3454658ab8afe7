// `saelab serve`: the web UI and JSON API over a workspace database (src/server/server.ts), until
// Ctrl-C. Read-only; binds 127.0.0.1 unless --host says otherwise, and answers only requests whose
// Host header names this server (the bound names, plus --allowed-hosts).

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { WORKSPACE_DB_FILE } from '../../io/workspaceDb.js';
import { isHostName } from '../../server/requestGuard.js';
import { startServer } from '../../server/server.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { intFlag } from '../flags.js';

interface ServeFlags {
  db?: string; port: number; host: string; device: string; allowedHosts?: string;
}

/** The --allowed-hosts list: comma-separated host names or IP addresses (IPv6 in brackets or bare), no ports. */
function parseAllowedHosts(v: string | undefined): string[] {
  if (v === undefined) return [];
  const names = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) {
    const bare = /^[0-9a-f:.]+$/i.test(n) && (n.match(/:/g) ?? []).length >= 2 ? `[${n}]` : n;
    if (!isHostName(bare)) throw new UsageError(`--allowed-hosts: '${n}' is not a host name or IP address (list names without ports, comma-separated)`);
  }
  return names;
}

/** Register `saelab serve`. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('web UI and JSON API over a workspace: runs, SAEs, training curves, eval metrics, feature dashboards, text → features, reports (read-only)')
    .option('--db <file>', `workspace database (default: ./${WORKSPACE_DB_FILE})`)
    .option('--port <n>', 'port (0: any free one)', intFlag('--port', 0), 8017)
    .option('--host <addr>', 'address to bind (another than 127.0.0.1 exposes the workspace to the network)', '127.0.0.1')
    .option('--allowed-hosts <names>', 'comma-separated host names the server also answers to (a Host header naming anything else gets 421); the bound names always work, and with --host 0.0.0.0 so do this machine\'s name and addresses')
    .addOption(deviceOption().default('cpu'))
    .action(async (_o: ServeFlags, cmd: Command) => {
      const o = cmd.opts<ServeFlags>();
      if (o.port > 65535) throw new UsageError(`--port must be at most 65535 (got ${o.port})`);
      const allowedHosts = parseAllowedHosts(o.allowedHosts);
      const db = resolve(o.db ?? join(process.cwd(), WORKSPACE_DB_FILE));
      if (!existsSync(db)) throw new UsageError(`--db ${db}: no such file (a workspace database written by saelab train / dashboard)`);
      const device = await openDeviceFromFlag(o.device);
      let srv;
      try {
        srv = await startServer({ db, host: o.host, port: o.port, allowedHosts, device });
      } catch (e) {
        device.destroy();
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') throw new UsageError(`--port ${o.port}: already in use (try another, or --port 0)`);
        if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`--host ${o.host}: not an address of this machine`);
        if (code === 'EACCES') throw new UsageError(`--port ${o.port}: not allowed to bind it`);
        throw e;
      }
      process.stdout.write(`saelab serve: ${srv.url} (workspace ${db}; Ctrl-C to stop)\n`);
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void srv.close().then(done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      device.destroy();
    });
}
