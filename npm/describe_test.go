package npm

import (
	"reflect"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/larder-mirror/larder/registries"
)

func TestDescribeReadsWhatAPackumentSaysOfItsPackage(t *testing.T) {
	doc := gjson.Parse(`{
		"name": "top", "dist-tags": {"latest": "2.0.0"},
		"description": "", "readme": "# top\n\nhello", "readmeFilename": "README.md",
		"versions": {"2.0.0": {"description": "the latest's", "license": {"type": "ISC"},
			"homepage": "https://top.test/", "repository": {"type": "git", "url": "git+https://github.com/acme/top.git"}}}
	}`)
	var info registries.PackageInfo
	describeAbout(&info, doc)
	want := registries.PackageInfo{Description: "the latest's", License: "ISC", Homepage: "https://top.test/",
		Repository: "https://github.com/acme/top", Readme: "# top\n\nhello", ReadmeFormat: "markdown"}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("got %+v\nwant %+v", info, want)
	}

	t.Run("no readme in the tarball is no readme", func(t *testing.T) {
		var info registries.PackageInfo
		describeAbout(&info, gjson.Parse(`{"readme": "ERROR: No README data found!"}`))
		if info.Readme != "" {
			t.Errorf("readme %q", info.Readme)
		}
	})
	t.Run("a readme that is not Markdown is text", func(t *testing.T) {
		var info registries.PackageInfo
		describeAbout(&info, gjson.Parse(`{"readme": "plain", "readmeFilename": "README.txt"}`))
		if info.ReadmeFormat != "text" {
			t.Errorf("format %q", info.ReadmeFormat)
		}
	})
}

func TestRepositoryURLsBecomeWhatABrowserOpens(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"git+https://github.com/acme/top.git"`, "https://github.com/acme/top"},
		{`{"type": "git", "url": "git://github.com/acme/top.git"}`, "https://github.com/acme/top"},
		{`"git@github.com:acme/top.git"`, "https://github.com/acme/top"},
		{`"git+ssh://git@github.com/acme/top.git"`, "https://github.com/acme/top"},
		{`"github:acme/top"`, "https://github.com/acme/top"},
		{`"acme/top"`, "https://github.com/acme/top"},
		{`"gitlab:acme/top"`, "https://gitlab.com/acme/top"},
		{`"javascript:alert(1)"`, ""},
		{`{"url": 3}`, ""},
	}
	for _, tt := range tests {
		if got := repositoryURL(gjson.Parse(tt.in)); got != tt.want {
			t.Errorf("repositoryURL(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLicensesReadEveryShapeNpmHasUsed(t *testing.T) {
	for in, want := range map[string]string{`"MIT"`: "MIT", `{"type": "BSD-3-Clause"}`: "BSD-3-Clause",
		`[{"type": "MIT"}, {"type": "Apache-2.0"}]`: "MIT OR Apache-2.0", `null`: ""} {
		if got := licenseOf(gjson.Parse(in)); got != want {
			t.Errorf("licenseOf(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestDependenciesMarkOptionalAndPeerOnes(t *testing.T) {
	v := gjson.Parse(`{
		"dependencies": {"b": "^1", "a": "~2", "opt": "3"},
		"optionalDependencies": {"opt": "3"},
		"peerDependencies": {"react": ">=18", "vue": "3"},
		"peerDependenciesMeta": {"vue": {"optional": true}}
	}`)
	want := []registries.Dependency{
		{Name: "a", Constraint: "~2"}, {Name: "b", Constraint: "^1"},
		{Name: "opt", Constraint: "3", Note: "optional"},
		{Name: "react", Constraint: ">=18", Note: "peer"}, {Name: "vue", Constraint: "3", Note: "optional peer"},
	}
	if got := dependencies(v); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if got := dependencies(gjson.Parse(`{}`)); got == nil || len(got) != 0 {
		t.Errorf("no dependencies: %#v, want an empty list", got)
	}
}
