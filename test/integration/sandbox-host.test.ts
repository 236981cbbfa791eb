/** An empty SANDBOX_HOST is the default (loopback), never every interface. */
import { freshSandbox } from '../helpers/sandbox';

jest.setTimeout(60_000);

it('listens on 127.0.0.1 when the host is given empty', async () => {
  const sandbox = await freshSandbox({ host: '' });
  try {
    expect(sandbox.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  } finally {
    await sandbox.stop();
  }
});
