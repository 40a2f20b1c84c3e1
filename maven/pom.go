package maven

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
)

// pom is what larder reads of a POM: what a build needs to resolve it
// offline besides its own files, its parent and the BOMs it imports
// (https://maven.apache.org/pom.html).
type pom struct {
	GroupID    string `xml:"groupId"`
	ArtifactID string `xml:"artifactId"`
	Version    string `xml:"version"`
	Packaging  string `xml:"packaging"`
	Parent     *struct {
		GroupID    string `xml:"groupId"`
		ArtifactID string `xml:"artifactId"`
		Version    string `xml:"version"`
	} `xml:"parent"`
	Properties struct {
		Entries []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	} `xml:"properties"`
	DependencyManagement struct {
		Dependencies []struct {
			GroupID    string `xml:"groupId"`
			ArtifactID string `xml:"artifactId"`
			Version    string `xml:"version"`
			Type       string `xml:"type"`
			Scope      string `xml:"scope"`
		} `xml:"dependencies>dependency"`
	} `xml:"dependencyManagement"`
}

func parsePOM(body []byte) (*pom, error) {
	var p pom
	if err := xml.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("not a POM: %v", err)
	}
	return &p, nil
}

var propertyRE = regexp.MustCompile(`\$\{([^}]+)\}`)

// pomNeeds lists the POMs a POM's resolution reads: its parent, and the
// BOMs its dependencyManagement imports, with ${…} versions taken from its
// own properties (an import whose version is a property of a parent is
// not followed: that parent's own needs cover what it imports).
func pomNeeds(body []byte) ([]coordinate, error) {
	p, err := parsePOM(body)
	if err != nil {
		return nil, err
	}
	props := map[string]string{"project.version": p.Version, "pom.version": p.Version, "project.groupId": p.GroupID}
	if p.Parent != nil {
		props["project.parent.version"] = p.Parent.Version
		if p.Version == "" {
			props["project.version"], props["pom.version"] = p.Parent.Version, p.Parent.Version
		}
		if p.GroupID == "" {
			props["project.groupId"] = p.Parent.GroupID
		}
	}
	for _, e := range p.Properties.Entries {
		props[e.XMLName.Local] = strings.TrimSpace(e.Value)
	}
	expand := func(s string) string {
		for range 5 { // properties naming properties, a few deep
			s = propertyRE.ReplaceAllStringFunc(s, func(ref string) string {
				if v, ok := props[ref[2:len(ref)-1]]; ok {
					return v
				}
				return ref
			})
		}
		return strings.TrimSpace(s)
	}
	var needs []coordinate
	if p.Parent != nil {
		needs = append(needs, coordinate{group: expand(p.Parent.GroupID), artifact: expand(p.Parent.ArtifactID), version: expand(p.Parent.Version)})
	}
	for _, d := range p.DependencyManagement.Dependencies {
		if strings.TrimSpace(d.Scope) == "import" && strings.TrimSpace(d.Type) == "pom" {
			needs = append(needs, coordinate{group: expand(d.GroupID), artifact: expand(d.ArtifactID), version: expand(d.Version)})
		}
	}
	var out []coordinate
	for _, c := range needs {
		if strings.Contains(c.String(), "${") || c.valid() != nil {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}
