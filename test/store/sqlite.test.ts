/** The Store contract against SQLite (always runs: better-sqlite3 needs no server). */
import { storeContract } from './contract.ts';
import { sqliteHarness } from './harness.ts';

storeContract('sqlite', sqliteHarness);
