/**
 * Which tenant (FAQ, cache and statistics) a Slack request belongs to, decided here for every kind of
 * request: events, slash commands and interactions, on a single workspace, on Enterprise Grid and in shared
 * channels.
 *
 * The tenant is the workspace of the installation that received the request, not the workspace of the
 * person: in a channel shared with another workspace (Slack Connect, or two workspaces of one org), a guest's
 * question is answered from the host installation's FAQ, so a shared channel never sees another team's
 * answers. Events say which installation in `authorizations`; interactions and commands only say the team.
 * An org-wide install (is_enterprise_install) has no workspace in its authorization: the tenant is then the
 * workspace the request came from (`context_team_id`, `team.id`, `team_id`), and when a payload names no
 * workspace at all, the org (`E…`), so `kvcache preload --team E0123ABCD` serves the whole org.
 */
import { checkTenant } from '../core/keys';

type Id = string | null | undefined;
interface Authorization {
  team_id?: Id;
  enterprise_id?: Id;
  is_enterprise_install?: boolean;
}

/** The fields of any Slack request body (event envelope, command form, interaction payload) that name teams. */
export interface TenantFields {
  team_id?: Id;
  enterprise_id?: Id;
  context_team_id?: Id;
  context_enterprise_id?: Id;
  is_enterprise_install?: boolean | string;
  authorizations?: Authorization[];
  team?: { id?: Id; enterprise_id?: Id } | null;
  enterprise?: { id?: Id } | null;
  user?: { team_id?: Id } | string;
}

const first = (...ids: Id[]): string | undefined => ids.find((id): id is string => typeof id === 'string' && id !== '');

/**
 * The tenant id for a request, or null when the payload names no team at all (the request is ignored).
 * `recorded`: the tenant a button of ours recorded when it was posted (a click on it is about that question,
 * whoever's workspace the click comes from; Slack returns a button's value unchanged in a signed request).
 */
export function tenantOf(body: TenantFields, recorded?: string): string | null {
  if (recorded !== undefined && recorded !== '') return checkTenant(recorded);
  const auth = body.authorizations?.[0];
  const user = typeof body.user === 'object' && body.user !== null ? body.user : undefined;
  const id = first(
    // Events: the receiving installation's workspace (null on an org-wide install).
    auth?.team_id,
    // The workspace the request happened in.
    body.context_team_id,
    body.team?.id,
    body.team_id,
    user?.team_id,
    // Nothing names a workspace: the org of an org-wide install.
    auth?.enterprise_id,
    body.context_enterprise_id,
    body.enterprise?.id,
    body.team?.enterprise_id,
    body.enterprise_id,
  );
  return id === undefined ? null : checkTenant(id);
}
