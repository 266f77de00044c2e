/**
 * Administering a database that other engines run (the desktop app's "administer only" profiles): the
 * admin contract and nothing else — no claim loop, no maintenance, no listeners, no cron leadership,
 * and never a migration. What needs an engine to act is passed on through the database: triggers and
 * replays NOTIFY `cleaver_task_queued`, cancels NOTIFY `cleaver_cancel`, so the engines holding the
 * workers wake or stop them.
 */
import { randomUUID } from 'node:crypto';
import { toError } from '../../shared/errors.ts';
import type { Driver } from '../db/driver.ts';
import { createEngineEvents } from '../engine-events.ts';
import type { Logger } from '../log.ts';
import { schemaStatus } from '../sql/migrate.ts';
import { cancelNotify } from '../sql/run-cancel.ts';
import { ENGINE_VERSION } from '../version.ts';
import { AdminService } from './admin-service.ts';
import { ChangeFeed } from './change-feed.ts';

export interface AdminOnly {
  admin: AdminService;
  /** Changes made through `admin` (other engines' changes are not seen; views refresh on a timer). */
  changes: ChangeFeed;
  /** Stops the change feed. The driver stays open: it is the caller's. */
  close(): Promise<void>;
}

/**
 * Opens the admin contract over `driver` without touching the schema. Check `adminSchemaCheck` first:
 * against an older or newer schema the queries fail.
 */
export function openAdminOnly(options: { driver: Driver; log: Logger }): AdminOnly {
  const { driver, log } = options;
  // An id of its own, so that the engines' listeners (which skip their own notifications) act on ours.
  const id = randomUUID();
  const notify = driver.capabilities.listenNotify;
  const changes = new ChangeFeed();
  const events = createEngineEvents({ log });
  // Nothing to wake on tasks.queued or rate-limits.changed: the statements NOTIFY the engines themselves (notifyFrom).
  events.on('attempts.cancelled', ({ attempts }) => {
    if (!notify) return;
    void cancelNotify(driver, { from: id, attempts }).catch((e: unknown) =>
      log.warn('telling the engines about cancelled attempts failed; their workers stop at the next heartbeat or timeout', { error: toError(e).message }),
    );
  });
  for (const name of ['runs.created', 'runs.changed', 'runs.ended'] as const) events.on(name, ({ runIds }) => changes.runs(runIds));
  const admin = new AdminService({
    driver,
    log,
    notifyFrom: notify ? id : null,
    events,
    info: () => ({ engineId: id, version: ENGINE_VERSION, database: driver.description, listening: [], mode: 'admin', retentionMs: null }),
  });
  return {
    admin,
    changes,
    async close() {
      changes.close();
    },
  };
}

export interface AdminSchemaCheck {
  /** 'needs-migration': older than this code (or empty); 'too-new': written by a newer Cleaver. */
  state: 'current' | 'needs-migration' | 'too-new';
  current: number;
  latest: number;
  /** What to tell the person, or null when current. */
  message: string | null;
}

/** Reads the schema version without changing anything, so the app can ask before migrating. */
export async function adminSchemaCheck(driver: Driver): Promise<AdminSchemaCheck> {
  const { current, latest } = await schemaStatus(driver);
  if (current > latest) {
    return {
      state: 'too-new',
      current,
      latest,
      message: `the database schema is at version ${current}, newer than this Cleaver knows (${latest}); upgrade Cleaver to administer it`,
    };
  }
  if (current < latest) {
    return {
      state: 'needs-migration',
      current,
      latest,
      message:
        current === 0
          ? `the database has no Cleaver schema yet; migrating creates it (version ${latest})`
          : `the database schema is at version ${current}; this Cleaver needs version ${latest}. Migrating changes it for every engine using it`,
    };
  }
  return { state: 'current', current, latest, message: null };
}
