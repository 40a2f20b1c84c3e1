package rubygems

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"io"
	"strings"
	"testing"
)

// rubyDump is Ruby 3.1's Marshal.dump([["rack", Gem::Version.new("2.2.8"),
// "ruby"], ["nokogiri", Gem::Version.new("1.15.0"), "x86_64-linux"]]).
const rubyDump = "04085b075b084922097261636b063a064554553a1147656d3a3a56657273696f6e5b0649220a322e322e38063b005449220972756279063b00545b0849220d6e6f6b6f67697269063b0054553b065b0649220b312e31352e30063b00544922117838365f36342d6c696e7578063b0054"

func TestTheFullIndexIsWrittenByteForByteAsRubyMarshalsIt(t *testing.T) {
	gz := marshalSpecs([]specsTuple{{"rack", "2.2.8", "ruby"}, {"nokogiri", "1.15.0", "x86_64-linux"}})
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if hex.EncodeToString(got) != rubyDump {
		t.Fatalf("marshalled\n%x\nRuby's\n%s", got, rubyDump)
	}
}

func TestMarshalLengthsPastOneByte(t *testing.T) {
	for n, want := range map[int]string{0: "00", 5: "0a", 122: "7f", 123: "017b", 255: "01ff", 256: "020001", 70000: "037011" + "01"} {
		var w marshalWriter
		w.long(n)
		if got := hex.EncodeToString(w.b.Bytes()); got != want {
			t.Errorf("long(%d) = %s, want %s", n, got, want)
		}
	}
	long := strings.Repeat("x", 300)
	w := marshalWriter{symbols: map[string]int{}}
	w.str(long)
	if !bytes.HasPrefix(w.b.Bytes(), []byte("I\"\x02\x2c\x01"+long)) {
		t.Errorf("a 300-byte string: %x…", w.b.Bytes()[:8])
	}
}
