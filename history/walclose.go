package history

// SQLite, by default, copies the write-ahead log into the database and
// empties it whenever the last connection to a file closes: in a repo that
// no daemon holds open, every command that writes pays for that checkpoint
// (two fsyncs and a copy of every page it wrote) and the next one for a new
// log header (a third fsync), about 2 ms of an edit. Store turns that off
// for each connection (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE) and checkpoints in
// Close itself, only once the log has grown past walKeepBytes; commits are
// made durable by synchronous=FULL instead (one fsync of the log each).
//
// go-sqlite3 does not expose sqlite3_db_config, so the option is set from
// an auto-extension: SQLite calls it with every connection it opens, before
// go-sqlite3 runs its connect hook. The sqlite3_* symbols are go-sqlite3's,
// resolved when the binary is linked.

/*
typedef struct sqlite3 sqlite3;
extern int sqlite3_db_config(sqlite3 *, int, ...);
extern int sqlite3_auto_extension(void (*)(void));

#define PW_SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE 1006

static int pwNoCheckpointOnClose(sqlite3 *db, char **errmsg, const void *api) {
	return sqlite3_db_config(db, PW_SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
}

static int pwInstallNoCheckpointOnClose(void) {
	return sqlite3_auto_extension((void (*)(void))pwNoCheckpointOnClose);
}
*/
import "C"

import "fmt"

func init() {
	if rc := C.pwInstallNoCheckpointOnClose(); rc != 0 {
		panic(fmt.Sprintf("sqlite3_auto_extension: error %d", rc))
	}
}

// walKeepBytes is how large a write-ahead log Close leaves for the next
// process. The first process to open a file rebuilds SQLite's index of the
// log by reading all of it (about 2 us a page here): a small log costs every
// command a little; checkpointing at every close cost every edit 2 ms. Half
// a mebibyte is about six edits of the synthetic history.
const walKeepBytes = 512 << 10
