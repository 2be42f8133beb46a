/**
 * Who may run admin commands: the user ids in KVCACHE_ADMINS, plus the workspace's admins and owners as
 * users.info reports them. Answers are cached (bounded, 10 minutes) so a busy admin does not cost an API call
 * per command; a failed look-up denies rather than grants.
 */
import { LRUCache } from 'lru-cache';
import type { WebClient } from '@slack/web-api';
import type { Logger } from '../logger';
import { classifySlackError } from './errors';

export class AdminCheck {
  private readonly cache = new LRUCache<string, boolean>({ max: 5_000, ttl: 10 * 60_000 });

  constructor(
    private readonly admins: Set<string>,
    private readonly logger: Logger,
  ) {}

  async isAdmin(client: WebClient, teamId: string, userId: string): Promise<boolean> {
    if (this.admins.has(userId)) return true;
    const key = `${teamId}:${userId}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    try {
      const res = await client.users.info({ user: userId });
      const u = res.user;
      const yes = !!(u && !u.deleted && (u.is_admin || u.is_owner || u.is_primary_owner));
      this.cache.set(key, yes);
      return yes;
    } catch (err) {
      this.logger.warn({ user: userId, failure: classifySlackError(err).message }, 'users.info failed; treating the user as not an admin');
      return false;
    }
  }
}
