package pypi

// Project is a project page, whatever format the upstream gave: larder keeps
// this one model (stored as JSON) and renders either format from it.
type Project struct {
	Name     string   `json:"name"`
	Serial   int64    `json:"serial,omitempty"`
	Versions []string `json:"versions,omitempty"`
	Files    []File   `json:"files"`
}

// File is one distribution file of a project page.
type File struct {
	Filename string `json:"filename"`
	// URL is where larder fetches the file: absolute, on the upstream or a
	// file host, without fragment.
	URL            string            `json:"url"`
	Hashes         map[string]string `json:"hashes"`
	RequiresPython string            `json:"requires_python,omitempty"`
	Yanked         bool              `json:"yanked,omitempty"`
	YankedReason   string            `json:"yanked_reason,omitempty"`
	// CoreMetadata says a PEP 658 metadata file exists; its hashes, if the
	// upstream gave them, are what it must hash to.
	CoreMetadata       bool              `json:"core_metadata,omitempty"`
	CoreMetadataHashes map[string]string `json:"core_metadata_hashes,omitempty"`
	Size               *int64            `json:"size,omitempty"`
	UploadTime         string            `json:"upload_time,omitempty"`
}
