package pypi

import (
	"reflect"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

const coreMetadata = `Metadata-Version: 2.1
Name: gamma
Version: 1.0.0
Summary: Gamma rays for Python
Home-page: UNKNOWN
License: MIT License
	Copyright (c) someone
Project-URL: Homepage, https://gamma.test/
Project-URL: Source, https://code.test/gamma
Requires-Dist: requests (>=2.0)
Requires-Dist: urllib3<3,>=1.21.1
Requires-Dist: pysocks!=1.5.7; extra == "socks"
Description-Content-Type: text/markdown

# Gamma

Rays.
`

func TestCoreMetadataTellsAboutTheProjectAndItsRequirements(t *testing.T) {
	a, err := aboutFromMetadata(strings.NewReader(coreMetadata))
	if err != nil {
		t.Fatal(err)
	}
	var info registries.PackageInfo
	a.fill(&info)
	want := registries.PackageInfo{Description: "Gamma rays for Python", License: "MIT License Copyright (c) someone",
		Homepage: "https://gamma.test/", Repository: "https://code.test/gamma", Readme: "# Gamma\n\nRays.\n", ReadmeFormat: "markdown"}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("got %+v\nwant %+v", info, want)
	}
	deps := requirements(a.RequiresDist)
	wantDeps := []registries.Dependency{
		{Name: "requests", Constraint: ">=2.0"},
		{Name: "urllib3", Constraint: "<3,>=1.21.1"},
		{Name: "pysocks", Constraint: "!=1.5.7", Note: `extra == "socks"`},
	}
	if !reflect.DeepEqual(deps, wantDeps) {
		t.Errorf("got %+v\nwant %+v", deps, wantDeps)
	}
}

func TestTheLegacyJSONTellsAboutTheProject(t *testing.T) {
	a, err := aboutFromJSON([]byte(`{"info": {"version": "2.0", "summary": "s", "license": "", "license_expression": "Apache-2.0",
		"home_page": "", "project_urls": {"Repository": "https://code.test/x"}, "requires_dist": null,
		"description": "Title\n=====", "description_content_type": ""}}`))
	if err != nil {
		t.Fatal(err)
	}
	var info registries.PackageInfo
	a.fill(&info)
	want := registries.PackageInfo{Description: "s", License: "Apache-2.0", Repository: "https://code.test/x",
		Readme: "Title\n=====", ReadmeFormat: "rst"}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("got %+v\nwant %+v", info, want)
	}
	if deps := requirements(a.RequiresDist); deps == nil || len(deps) != 0 {
		t.Errorf("no requirements: %#v", deps)
	}
}
