package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Blobs keeps blobs in an S3-compatible object store (AWS S3, MinIO,
// SeaweedFS, Ceph), shared by every larder node that names it:
//
//	bucket/
//	└── PREFIX/
//	    ├── sha256/ab/abcdef0123…   one immutable object per digest
//	    ├── quarantine/abcdef0123…  set aside by verify: not what its name says
//	    └── ready/…                 a readiness probe's object, for a moment
//
// A blob being written is spooled to a file in this node's data folder and
// hashed as it arrives; it is uploaded only at Commit, once its digest is
// known and matches what was expected. An upload is one PUT (or a multipart
// upload the store completes only when every part is in), so the object
// appears whole or not at all: a node that dies mid-download leaves a spool
// file its next start removes, and nothing in the bucket.
type S3Blobs struct {
	client *minio.Client
	bucket string
	prefix string // "" or ending in "/"
	spool  string // this node's folder for writes in progress
	url    string // as configured, for messages
}

// S3Location is where an s3:// URL says blobs live.
type S3Location struct {
	Bucket, Prefix string
	Endpoint       *url.URL // scheme and host of the store
	Region         string
}

// ParseS3URL reads s3://BUCKET[/PREFIX][?endpoint=URL&region=NAME]. Without
// an endpoint the store is AWS S3 (https://s3.amazonaws.com).
func ParseS3URL(raw string) (S3Location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return S3Location{}, fmt.Errorf("blob_store: %w", err)
	}
	if u.Scheme != "s3" {
		return S3Location{}, fmt.Errorf("blob_store %q: want s3://BUCKET[/PREFIX]?endpoint=URL&region=NAME (or leave it out for the data folder)", raw)
	}
	loc := S3Location{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Region: u.Query().Get("region")}
	if loc.Bucket == "" {
		return S3Location{}, fmt.Errorf("blob_store %q: no bucket named (s3://BUCKET/…)", raw)
	}
	if loc.Prefix != "" {
		loc.Prefix += "/"
	}
	for k := range u.Query() {
		if k != "endpoint" && k != "region" {
			return S3Location{}, fmt.Errorf("blob_store %q: unknown parameter %q (known: endpoint, region)", raw, k)
		}
	}
	endpoint := u.Query().Get("endpoint")
	if endpoint == "" {
		endpoint = "https://s3.amazonaws.com"
	}
	e, err := url.Parse(endpoint)
	if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || (e.Path != "" && e.Path != "/") {
		return S3Location{}, fmt.Errorf("blob_store %q: endpoint %q is not an http(s)://HOST[:PORT] URL", raw, endpoint)
	}
	loc.Endpoint = e
	return loc, nil
}

// OpenS3Blobs connects to the store raw names (see ParseS3URL), checks that
// its bucket exists, and empties spool, where this node's writes in
// progress are kept until they are uploaded. Credentials come from the
// standard AWS environment variables (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or files (~/.aws/credentials,
// ~/.aws/config, AWS_PROFILE); with none, requests are anonymous. With no
// spool the store is read only: Create and Delete refuse.
func OpenS3Blobs(ctx context.Context, raw, spool string) (*S3Blobs, error) {
	loc, err := ParseS3URL(raw)
	if err != nil {
		return nil, err
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{},
	})
	client, err := minio.New(loc.Endpoint.Host, &minio.Options{
		Creds:        creds,
		Secure:       loc.Endpoint.Scheme == "https",
		Region:       loc.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("blob_store %s: %w", raw, err)
	}
	if spool != "" {
		if err := emptyDir(spool); err != nil {
			return nil, fmt.Errorf("blob store: %w", err)
		}
	}
	s := &S3Blobs{client: client, bucket: loc.Bucket, prefix: loc.Prefix, spool: spool, url: raw}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ok, err := client.BucketExists(cctx, loc.Bucket)
	if err != nil {
		return nil, fmt.Errorf("blob_store %s: %w", raw, err)
	}
	if !ok {
		return nil, fmt.Errorf("blob_store %s: bucket %q does not exist; create it first", raw, loc.Bucket)
	}
	return s, nil
}

// emptyDir makes dir and removes what is in it.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("removing interrupted write: %w", err)
		}
	}
	return nil
}

func (s *S3Blobs) key(d Digest) string {
	return s.prefix + "sha256/" + string(d[:2]) + "/" + string(d)
}

// s3NotFound reports whether err is the store saying there is no such
// object.
func s3NotFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == "NoSuchKey" || r.StatusCode == http.StatusNotFound
}

// Open GETs the object: the size comes with its body (see s3Object).
func (s *S3Blobs) Open(ctx context.Context, d Digest) (io.ReadSeekCloser, int64, error) {
	if !d.valid() {
		return nil, 0, fmt.Errorf("blob %q: %w", d, ErrNotFound)
	}
	obj, err := s.openS3Object(ctx, d)
	if err != nil {
		return nil, 0, err
	}
	return obj, obj.size, nil
}

func (s *S3Blobs) Stat(ctx context.Context, d Digest) (int64, error) {
	info, err := s.stat(ctx, d)
	return info.Size, err
}

func (s *S3Blobs) stat(ctx context.Context, d Digest) (minio.ObjectInfo, error) {
	if !d.valid() {
		return minio.ObjectInfo{}, fmt.Errorf("blob %q: %w", d, ErrNotFound)
	}
	info, err := s.client.StatObject(ctx, s.bucket, s.key(d), minio.StatObjectOptions{})
	if s3NotFound(err) {
		return info, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return info, fmt.Errorf("blob %s: %w", d, err)
	}
	return info, nil
}

// PresignGet signs a GET of d's object for expiry (S3 allows up to 7
// days), locally: no request reaches the store. It fails with anonymous
// credentials, which cannot sign.
func (s *S3Blobs) PresignGet(ctx context.Context, d Digest, expiry time.Duration) (string, error) {
	if !d.valid() {
		return "", fmt.Errorf("blob %q: %w", d, ErrNotFound)
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, s.key(d), expiry, nil)
	if err != nil {
		return "", fmt.Errorf("blob_store %s: signing a URL for %s: %w", s.url, d, err)
	}
	return u.String(), nil
}

// ModTime is when the object was last uploaded (see BlobAger). Commit
// uploads even bytes already there, so a blob committed again is young.
func (s *S3Blobs) ModTime(ctx context.Context, d Digest) (time.Time, error) {
	info, err := s.stat(ctx, d)
	return info.LastModified, err
}

func (s *S3Blobs) Delete(ctx context.Context, d Digest) error {
	if s.spool == "" {
		return fmt.Errorf("blob store: %w", ErrReadOnly)
	}
	if !d.valid() {
		return nil
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.key(d), minio.RemoveObjectOptions{})
	if err != nil && !s3NotFound(err) {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	return nil
}

func (s *S3Blobs) Walk(ctx context.Context, fn func(Digest, int64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing when fn returns early
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + "sha256/", Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("blob store: listing: %w", obj.Err)
		}
		d := Digest(obj.Key[strings.LastIndexByte(obj.Key, '/')+1:])
		if !d.valid() || obj.Key != s.key(d) {
			continue
		}
		if err := fn(d, obj.Size); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Quarantine copies the object under quarantine/ and then removes it: it
// is out of reach of Open and Walk, and kept for a person to look at.
func (s *S3Blobs) Quarantine(ctx context.Context, d Digest) (string, error) {
	if s.spool == "" {
		return "", fmt.Errorf("blob store: %w", ErrReadOnly)
	}
	if _, err := s.stat(ctx, d); err != nil {
		return "", err
	}
	dst := s.prefix + "quarantine/" + string(d) + "." + time.Now().UTC().Format("20060102T150405.000000000")
	_, err := s.client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: dst},
		minio.CopySrcOptions{Bucket: s.bucket, Object: s.key(d)})
	if err != nil {
		return "", fmt.Errorf("blob %s: quarantine: %w", d, err)
	}
	if err := s.Delete(ctx, d); err != nil {
		return "", err
	}
	return "s3://" + s.bucket + "/" + dst, nil
}

// probeWrite is the readiness check's write: an object put and removed.
func (s *S3Blobs) probeWrite(ctx context.Context, buf []byte) error {
	var id [8]byte
	rand.Read(id[:])
	key := s.prefix + "ready/" + hex.EncodeToString(id[:])
	if _, err := s.client.PutObject(ctx, s.bucket, key, strings.NewReader(string(buf)), int64(len(buf)),
		minio.PutObjectOptions{ContentType: "application/octet-stream"}); err != nil {
		return fmt.Errorf("blob store: a test write to the bucket failed: %v", err)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("blob store: removing a test write from the bucket failed: %v", err)
	}
	return nil
}

func (s *S3Blobs) Create(ctx context.Context) (BlobWriter, error) {
	if s.spool == "" {
		return nil, fmt.Errorf("blob store: %w", ErrReadOnly)
	}
	return newSpoolWriter(s.spool, s.upload)
}

// upload puts the spooled bytes under their digest, only once that is
// checked. Bytes already in the store are uploaded again: the object's age
// is what keeps gc from taking it for an orphan before its row is written.
func (s *S3Blobs) upload(ctx context.Context, f *os.File, got Digest, size int64) error {
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	_, err := s.client.PutObject(ctx, s.bucket, s.key(got), io.NewSectionReader(f, 0, size), size,
		minio.PutObjectOptions{ContentType: "application/octet-stream", UserMetadata: map[string]string{"sha256": string(got)}})
	if err != nil {
		return fmt.Errorf("blob store: uploading %s: %w", got, err)
	}
	return nil
}

// openBlobs opens the blob store blobStore names for the data folder dir:
// its own blobs/ folder when empty.
func openBlobs(ctx context.Context, dir, blobStore string) (Blobs, error) {
	if blobStore == "" {
		return OpenFSBlobs(filepath.Join(dir, "blobs"))
	}
	return OpenS3Blobs(ctx, blobStore, filepath.Join(dir, "blobs", "tmp"))
}
