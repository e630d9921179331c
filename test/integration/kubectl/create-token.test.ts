/**
 * `kubectl create token` against ferry with the real kubectl: the TokenRequest it sends is
 * honoured (a token acting as its ServiceAccount, `--duration` honoured, bound to a Secret with
 * `--bound-object-kind`), a token for another audience is refused by the API (Unauthorized), and
 * a duration under ten minutes is refused as Kubernetes refuses it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalControlPlane } from '../../../functions/runtime/local';
import { describeKubectl, runKubectl, startKubectlPlane } from '../../helpers/kubectl';

describeKubectl('kubectl create token against ferry', () => {
  let plane: LocalControlPlane;
  let kubeconfig: string;
  let stop = async () => {};
  const kubectl = (...args: string[]) => runKubectl(kubeconfig, args);

  beforeAll(async () => {
    ({ plane, kubeconfig, stop } = await startKubectlPlane('ferry-kubectl-token-'));
    expect((await kubectl('create', 'serviceaccount', 'robot')).code).toBe(0);
    expect((await kubectl('create', 'secret', 'generic', 'bound', '--from-literal=a=b')).code).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await stop();
  });

  it('prints a token that acts as the ServiceAccount, for the duration asked', async () => {
    // act
    const res = await kubectl('create', 'token', 'robot', '--duration=20m');
    const token = res.stdout.trim();
    const asRobot = await kubectl('--token', token, 'get', 'configmaps');

    // assess
    expect(res.code, res.stderr).toBe(0);
    expect(asRobot.code).not.toBe(0);
    expect(asRobot.stderr).toContain('User "system:serviceaccount:default:robot" cannot list resource "configmaps"');
    const record = (await plane.store.list('Token')).items.find((t) => token.startsWith(`ferry_${t.metadata.name}_`));
    const status = record?.status as { expirationTimestamp?: string } | undefined;
    const expires = Date.parse(status?.expirationTimestamp ?? '');
    expect(Math.abs(expires - Date.now() - 20 * 60_000)).toBeLessThan(60_000);
  });

  it('binds a token to a Secret, and refuses one for another audience as an API credential', async () => {
    // act
    const bound = await kubectl('create', 'token', 'robot', '--bound-object-kind=Secret', '--bound-object-name=bound');
    const vault = await kubectl('create', 'token', 'robot', '--audience=vault');
    const asVault = await kubectl('--token', vault.stdout.trim(), 'get', 'configmaps');
    const asBound = await kubectl('--token', bound.stdout.trim(), 'get', 'configmaps');

    // assess
    expect(bound.code, bound.stderr).toBe(0);
    expect(asBound.stderr).toContain('cannot list resource "configmaps"'); // authenticated
    expect(vault.code, vault.stderr).toBe(0);
    expect(asVault.stderr).toMatch(/Unauthorized|must be logged in/);
  });

  it('refuses a duration under ten minutes', async () => {
    // act
    const res = await kubectl('create', 'token', 'robot', '--duration=5m');

    // assess
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('spec.expirationSeconds');
  });
});
