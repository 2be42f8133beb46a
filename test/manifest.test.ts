import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { SLACK_BOT_EVENTS, SLACK_BOT_SCOPES, SLACK_COMMAND } from '../src/slack/listeners';

describe('manifest.yaml', () => {
  const m = YAML.parse(fs.readFileSync(path.join(__dirname, '..', 'manifest.yaml'), 'utf8'));

  test('asks for exactly the events, scopes and command the app uses', () => {
    expect([...m.settings.event_subscriptions.bot_events].sort()).toEqual([...SLACK_BOT_EVENTS].sort());
    expect([...m.oauth_config.scopes.bot].sort()).toEqual([...SLACK_BOT_SCOPES].sort());
    expect(m.features.slash_commands.map((c: { command: string }) => c.command)).toEqual([SLACK_COMMAND]);
  });

  test('interactivity, App Home and the events endpoint are wired to /slack/events', () => {
    expect(m.settings.interactivity.is_enabled).toBe(true);
    expect(m.features.app_home.home_tab_enabled).toBe(true);
    for (const url of [m.settings.event_subscriptions.request_url, m.settings.interactivity.request_url, m.features.slash_commands[0].url]) {
      expect(url).toMatch(/\/slack\/events$/);
    }
  });
});
