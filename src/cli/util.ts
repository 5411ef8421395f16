/** What every `edgessh` command shares: how it gives up. */
export function fail(message: string): never {
  process.stderr.write(`edgessh: ${message}\n`);
  process.exit(1);
}
