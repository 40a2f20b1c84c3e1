package maven

import (
	"encoding/xml"
	"fmt"
	"maps"
	"regexp"
	"strings"

	"github.com/larder-mirror/larder/registries"
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

// properties are a POM's ${…} values as written, not yet expanded: a
// child's are laid over its parents' before any is expanded, as Maven
// builds the effective model (a child's value wins, and a parent's
// property may name one the child defines).
type properties map[string]string

// ownProperties are p's properties, and the project.* ones Maven derives
// from its coordinates.
func (p *pom) ownProperties() properties {
	props := properties{"project.version": p.Version, "pom.version": p.Version, "project.groupId": p.GroupID}
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
	return props
}

// over is props laid over parent's: props wins.
func (props properties) over(parent properties) properties {
	out := maps.Clone(parent)
	if out == nil {
		out = properties{}
	}
	maps.Copy(out, props)
	return out
}

func (props properties) expand(s string) string {
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

func (props properties) coordinate(c coordinate) coordinate {
	return coordinate{group: props.expand(c.group), artifact: props.expand(c.artifact), version: props.expand(c.version)}
}

// resolved reports whether c names a release: no ${…} left, and each part
// valid.
func resolved(c coordinate) bool { return !strings.Contains(c.String(), "${") && c.valid() == nil }

// pomNeeds lists the POMs a POM's resolution reads: its parent, and the
// BOMs its dependencyManagement imports. An import whose ${…} its own
// properties do not define is left to inherited, to be expanded with its
// parents' properties once their POMs are read (a child importing
// netty-bom:${netty.version} from a parent that defines netty.version,
// the Spring Boot and Quarkus shape); nil when there is none.
func pomNeeds(body []byte) ([]coordinate, *inheritedImports, error) {
	p, err := parsePOM(body)
	if err != nil {
		return nil, nil, err
	}
	props := p.ownProperties()
	var needs []coordinate
	var parent *coordinate
	if p.Parent != nil {
		c := props.coordinate(coordinate{group: p.Parent.GroupID, artifact: p.Parent.ArtifactID, version: p.Parent.Version})
		if resolved(c) {
			needs, parent = append(needs, c), &c
		}
	}
	var pending []coordinate
	for _, d := range p.DependencyManagement.Dependencies {
		if strings.TrimSpace(d.Scope) != "import" || strings.TrimSpace(d.Type) != "pom" {
			continue
		}
		raw := coordinate{group: d.GroupID, artifact: d.ArtifactID, version: d.Version}
		switch c := props.coordinate(raw); {
		case resolved(c):
			needs = append(needs, c)
		case strings.Contains(c.String(), "${") && parent != nil:
			pending = append(pending, raw)
		}
	}
	if len(pending) == 0 {
		return needs, nil, nil
	}
	self := props.coordinate(coordinate{group: p.GroupID, artifact: p.ArtifactID, version: p.Version})
	if self.group == "" {
		self.group = props["project.groupId"]
	}
	if self.version == "" {
		self.version = props["project.version"]
	}
	return needs, &inheritedImports{of: self.String(), props: props, imports: pending, parent: *parent}, nil
}

// maxParentDepth bounds how far up a chain of parents an import's
// properties are looked for (a cycle of parents ends there too).
const maxParentDepth = 10

// inheritedImports are a POM's imports whose ${…} its parents define:
// read with the properties of the POM and of the parents read so far,
// laid over those of parent, the next POM up the chain.
type inheritedImports struct {
	of      string // the POM that imports them, for the label
	props   properties
	imports []coordinate // as written
	parent  coordinate
	depth   int
}

// pin is the parent's POM read once more, for its properties: its Needs
// expands the imports with them, and hands what is still undefined to the
// parent's own parent. Its label names the importing POM, so that it is
// not taken for the parent's own pin (each child's imports are its own).
// pomPins are the pins of the POMs a POM needs, and of the parent that
// may define what its imports still lack (nil: none).
func pomPins(needs []coordinate, inherited *inheritedImports) []registries.Pin {
	var pins []registries.Pin
	for _, n := range needs {
		n.typ = "pom"
		pins = append(pins, n.pin())
	}
	if inherited != nil {
		pins = append(pins, inherited.pin())
	}
	return pins
}

func (in *inheritedImports) pin() registries.Pin {
	c := in.parent
	plain := c.pin().Release
	return registries.Pin{Label: "imports of " + in.of + " through " + c.String(), Release: &registries.Release{
		Package:  plain.Package,
		Document: plain.Document,
		Files:    plain.Files,
		Held:     plain.Held,
		Needs: func(parentBody []byte) ([]registries.Pin, error) {
			needs, next, err := in.through(parentBody)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.pomPath(), err)
			}
			return pomPins(needs, next), nil
		},
	}}
}

// through expands the imports with the properties of the parent whose
// POM is parentBody beneath those read so far; what is still undefined
// goes on to that parent's parent.
func (in *inheritedImports) through(parentBody []byte) ([]coordinate, *inheritedImports, error) {
	p, err := parsePOM(parentBody)
	if err != nil {
		return nil, nil, err
	}
	props := in.props.over(p.ownProperties())
	var needs, pending []coordinate
	for _, raw := range in.imports {
		if c := props.coordinate(raw); resolved(c) {
			needs = append(needs, c)
		} else if strings.Contains(c.String(), "${") {
			pending = append(pending, raw)
		}
	}
	if len(pending) == 0 || p.Parent == nil || in.depth+1 >= maxParentDepth {
		return needs, nil, nil
	}
	grand := props.coordinate(coordinate{group: p.Parent.GroupID, artifact: p.Parent.ArtifactID, version: p.Parent.Version})
	if !resolved(grand) {
		return needs, nil, nil
	}
	return needs, &inheritedImports{of: in.of, props: props, imports: pending, parent: grand, depth: in.depth + 1}, nil
}
