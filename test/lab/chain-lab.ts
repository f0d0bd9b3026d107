import type { LabOwner } from '../../src/lab/lab.js';
import { Lab, LAB } from '../../src/lab/lab.js';

/** Addresses of the chain: client — router 1 — router 2 — server, in documentation ranges. */
export const CHAIN = {
  client: LAB.client,
  /** Hop 1, as the client sees it. */
  router1: { v4: '192.0.2.1', v6: '2001:db8:1::1' },
  /** Hop 2, as the client sees it (its side towards router 1). */
  router2: { v4: '203.0.113.2', v6: '2001:db8:3::2' },
  /** Hop 3. */
  server: LAB.server,
} as const;

/** A lab of three hops: `ns.router` is router 1, `router2` the second router; the server is the third hop. */
export class ChainLab extends Lab {
  /** Namespace name of the second router. */
  readonly router2 = `${this.id}q`;

  static override async create(owner?: LabOwner): Promise<ChainLab> {
    return Lab.built(new ChainLab(), owner);
  }

  protected override async build(): Promise<void> {
    const { client, router, server } = this.ns;
    const router2 = this.router2;
    for (const ns of [client, router, router2, server]) await this.addNamespace(ns);
    for (const ns of [router, router2]) {
      // Every hop must answer every traced probe: no ICMP rate limit on the routers.
      await this.sysctl(
        ns,
        'net.ipv4.ip_forward=1',
        'net.ipv6.conf.all.forwarding=1',
        'net.ipv4.icmp_ratelimit=0',
        'net.ipv6.icmp.ratelimit=0',
      );
    }
    await this.ip(
      router,
      `link add to-client type veth peer name eth0 netns ${client}`,
      `link add to-next type veth peer name to-prev netns ${router2}`,
      `addr add ${CHAIN.router1.v4}/24 dev to-client`,
      `addr add ${CHAIN.router1.v6}/64 dev to-client`,
      'addr add 203.0.113.1/24 dev to-next',
      'addr add 2001:db8:3::1/64 dev to-next',
      'link set to-client up',
      'link set to-next up',
      'route add default via 203.0.113.2',
      'route add default via 2001:db8:3::2',
    );
    await this.ip(
      router2,
      `link add to-server type veth peer name eth0 netns ${server}`,
      `addr add ${CHAIN.router2.v4}/24 dev to-prev`,
      `addr add ${CHAIN.router2.v6}/64 dev to-prev`,
      'addr add 198.51.100.1/24 dev to-server',
      'addr add 2001:db8:2::1/64 dev to-server',
      'link set to-prev up',
      'link set to-server up',
      'route add 192.0.2.0/24 via 203.0.113.1',
      'route add 2001:db8:1::/64 via 2001:db8:3::1',
    );
    await this.end(client, CHAIN.client, CHAIN.router1);
    await this.end(server, CHAIN.server, { v4: '198.51.100.1', v6: '2001:db8:2::1' });
  }

  private end(ns: string, address: { v4: string; v6: string }, gateway: { v4: string; v6: string }): Promise<void> {
    return this.ip(
      ns,
      `addr add ${address.v4}/24 dev eth0`,
      `addr add ${address.v6}/64 dev eth0`,
      'link set eth0 up',
      `route add default via ${gateway.v4}`,
      `route add default via ${gateway.v6}`,
    );
  }
}
