/**
 * Keeps a function's database traffic inside the plan's quota: at most `qps` requests per second
 * from this instance, and a bounded retry with backoff when the cloud still answers over-quota
 * (-501003 requests, -501004 concurrency).
 */
const OVER_QUOTA = /-50100[34]|EXCEED_(CONCURRENT_)?REQUEST_LIMIT|exceed (concurrent )?request limit/i;

export class Throttle {
  private next = 0;
  calls = 0;

  constructor(
    private readonly qps: number,
    private readonly retries = 5,
  ) {}

  async run<T>(operation: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      const now = Date.now();
      const slot = Math.max(now, this.next);
      this.next = slot + 1000 / this.qps;
      if (slot > now) await sleep(slot - now);
      this.calls += 1;
      try {
        return await operation();
      } catch (err) {
        const overQuota = OVER_QUOTA.test(
          String((err as { errCode?: number }).errCode ?? '') + String((err as Error).message),
        );
        if (!overQuota || attempt >= this.retries) throw err;
        await sleep(200 * 2 ** attempt);
      }
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
