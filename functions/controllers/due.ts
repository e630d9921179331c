/**
 * Which triggered controllers run in a pass. Most controllers run in every round; one with a
 * `triggers` list (declared.ts: service-accounts, ingress, kubernetes-service) runs only after a
 * write of one of those kinds, as controller-runtime's controllers reconcile on their watches'
 * events rather than on every event of the cluster. Due means: a write of one of its kinds seen
 * from outside the pass (the local watch, a Lambda stream record), a write by another controller
 * earlier in this pass (its next round sees it in the snapshot), its last run failed or asked to
 * look again (wakeAt), or the periodic full resync. Every triggered controller is due when a
 * manager starts or takes the lease, so nothing written while no manager watched is missed.
 *
 * A write seen from outside during a pass is due at the next pass, not in this one's next round:
 * the snapshot may have listed the kind before that write. So is a write by a once-per-pass
 * controller: the rounds are over.
 */
import type { Controller } from './controller';

export class DueControllers {
  private readonly gated: readonly Controller[];
  private next: Set<string>;
  private thisPass = new Set<string>();
  private current: Controller | undefined;
  private wokeDuring = false;

  constructor(controllers: readonly Controller[]) {
    this.gated = controllers.filter((c) => c.triggers !== undefined);
    this.next = new Set(this.gated.map((c) => c.name));
  }

  /** Every triggered controller runs at the next pass (start, a new lease, the full resync). */
  all(): void {
    for (const c of this.gated) this.next.add(c.name);
  }

  /** A write of `kind` from outside the pass: whose triggers name it run at the next pass. */
  written(kind: string): void {
    this.mark(this.next, kind);
  }

  /** Runs one pass: what was due before it is due in its rounds; what is left is due at the next. */
  async pass(body: () => Promise<void>): Promise<void> {
    this.thisPass = this.next;
    this.next = new Set();
    try {
      await body();
    } finally {
      for (const name of this.thisPass) this.next.add(name);
      this.thisPass = new Set();
    }
  }

  /** Runs `c` in this round when it is due (an untriggered controller always is). */
  async run(c: Controller, body: () => Promise<void>): Promise<void> {
    if (c.triggers !== undefined && !this.thisPass.delete(c.name)) return;
    this.current = c;
    this.wokeDuring = false;
    try {
      await body();
    } finally {
      this.current = undefined;
      // A triggered controller that failed or asks to look again runs at the next pass anyway.
      if (this.wokeDuring && c.triggers !== undefined) this.next.add(c.name);
    }
  }

  /**
   * A write this pass made: due in the next round (the snapshot has it), or at the next pass when
   * a once-per-pass controller made it. A controller's own writes do not make it due again.
   */
  wrote(kind: string): void {
    this.mark(this.current?.oncePerPass ? this.next : this.thisPass, kind, this.current?.name);
  }

  /** The running controller asked for a later look (wakeAt), or failed. */
  woke(): void {
    this.wokeDuring = true;
  }

  private mark(into: Set<string>, kind: string, except?: string): void {
    for (const c of this.gated) if (c.name !== except && c.triggers?.has(kind)) into.add(c.name);
  }
}
