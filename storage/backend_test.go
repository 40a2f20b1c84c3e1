package storage

import (
	"os"
	"testing"

	"github.com/larder-mirror/larder/storage/backendtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	backendtest.Stop()
	os.Exit(code)
}

// sqliteOnly are the tests of the S3 blob store, which use no database,
// and those about SQLite's file (damage, replacement, a
// read-only mount, WAL copies) or the data folder's own blobs/ (shared open
// files, sendfile): on PostgreSQL there is no such file to test. The
// tests of migrate and of the store's identity run on both databases by
// themselves.
const sqliteOnly = `^(TestMigrate|TestCheckMigrationsOfA|TestThreeNodes|TestParseShard|TestEveryDigest|TestANode|TestNodesStarting|TestAPairFromBefore|TestAnIDWritten|TestANewDatabase|TestTheEmbedded|TestAnImportIntoANewPair|TestOpenDB|TestTheCatalogMigration|TestReady|TestOpenReadOnly|TestAReadOnly|TestAnImmutable|TestReaders|TestCorruption|TestSharedBlob|TestSendFile|TestFSBlobs|TestASecondProcess|TestADeletedBlob|TestAKeptBlob|TestABlobOpened|TestAnInvalidated|TestEveryStorageTest|TestS3|TestAnS3|TestAQuarantinedS3|TestOpeningAMissingBucket|TestParseS3|TestPostgres|TestRebind)`

// TestEveryStorageTestAlsoRunsOnPostgreSQL runs this package's tests again
// with their metadata on a real PostgreSQL server (see backendtest).
func TestEveryStorageTestAlsoRunsOnPostgreSQL(t *testing.T) {
	backendtest.RerunOnPostgres(t, sqliteOnly)
}

// testBackends are the backends a test's store uses: PostgreSQL when this
// process runs on it, else the data folder's own.
func testBackends(t testing.TB) Backends {
	t.Helper()
	if backendtest.OnPostgres() {
		return Backends{Database: backendtest.Postgres(t)}
	}
	return Backends{}
}
