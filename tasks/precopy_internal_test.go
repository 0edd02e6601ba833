package tasks

import "testing"

func TestRacy(t *testing.T) {
	const start = 1_700_000_000
	for _, c := range []struct {
		mtime, ctime string
		racy         bool
	}{
		{"1699990000.5", "1699990000.5", false},
		{"1699999997.9", "1699999997.9", false}, // changed 3 s before
		{"1699999998.0", "1699999998.0", true},  // within the margin
		{"1699990000.5", "1700000001.0", true},  // metadata or content changed during the copy
		{"1700000005.0", "1700000005.0", true},  // during the copy
		{"garbage", "1699990000.0", true},       // unreadable counts as recent
	} {
		e := entry{kind: 'f', mtime: c.mtime, ctime: c.ctime}
		if got := e.racy(start); got != c.racy {
			t.Errorf("mtime %s ctime %s: racy %t, want %t", c.mtime, c.ctime, got, c.racy)
		}
	}
}

func TestParseListingRejectsUnsafeNames(t *testing.T) {
	for _, out := range []string{
		"a f 644 3 1.0 1.0 7 solr/data/a\nb\n",                                                     // a newline in a name splits the line
		"h \\0123456789012345678901234567890123456789012345678901234567890123  solr/data/a\\\\b\n", // sha256sum escapes backslashes
	} {
		l, err := parseListing(out)
		if err == nil && l.invalid == "" {
			t.Errorf("%q parsed as safe", out)
		}
	}
	l, err := parseListing("start 12\na f 644 3 1.5 1.5 7 solr/data/a b\n")
	if err != nil || l.start != 12 || l.trees['a']["solr/data/a b"].size != 3 {
		t.Errorf("parse: %+v %v", l, err)
	}
}

func TestCopyRecordRoundTrip(t *testing.T) {
	r := copyRecord{pack: "abc", files: map[string]keptFile{"solr/data/x y": {src: "f:644:1:2:3:4", dst: "f:644:1:2:5:6", sum: "00"}}}
	got, ok := decodeRecord(string(r.encode()))
	if !ok || got.pack != "abc" || got.files["solr/data/x y"] != r.files["solr/data/x y"] {
		t.Errorf("round trip: %+v %t", got, ok)
	}
	if _, ok := decodeRecord("drover-precopy 2 abc\n"); ok {
		t.Error("a record of another format was accepted")
	}
}
