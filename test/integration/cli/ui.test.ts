/**
 * `ferry ui` prints the address of the cluster page of the server the CLI talks to, and the page
 * is there; it prints no token (the page asks for one).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlane, type TestPlane } from './harness';

describe('ferry ui', () => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane();
  });
  afterAll(async () => {
    await plane.close();
  });

  it("prints the server's /ui/ URL, where the page answers, and no token", async () => {
    // act
    const res = await plane.ferry(['ui']);
    const alias = await plane.ferry(['dashboard']);
    const url = res.stdout.split('\n')[0] as string;
    const page = await fetch(url);

    // assess
    expect(res.code).toBe(0);
    expect(url).toBe(`${plane.url}/ui/`);
    expect(alias.stdout).toBe(res.stdout);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>ferry cluster</title>');
    expect(res.stdout + res.stderr).not.toContain(plane.adminToken);
  });
});
