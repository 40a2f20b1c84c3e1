package storage

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
)

// s3Object is an object read by GET requests alone: Open's GET answers
// with the size, so no HEAD goes before it (minio-go's Object stats the
// object first, one more round trip for every blob served). Seeking is
// free; a Read where the open body does not stand issues a ranged GET
// from there, unless the body is a short way behind, when reading on to
// that point costs less than a new request.
type s3Object struct {
	s      *S3Blobs
	ctx    context.Context
	d      Digest
	size   int64
	pos    int64
	body   io.ReadCloser // nil when none is open
	bodyAt int64         // the offset the body's next byte is at
}

// skipAhead is how far behind the read position an open body may be and
// still be read on rather than replaced by a ranged GET: about what a
// round trip to a store nearby costs in bytes.
const skipAhead = 256 << 10

// openS3Object GETs the object from its start.
func (s *S3Blobs) openS3Object(ctx context.Context, d Digest) (*s3Object, error) {
	body, info, err := s.get(ctx, d, 0)
	if err != nil {
		return nil, err
	}
	return &s3Object{s: s, ctx: ctx, d: d, size: info.Size, body: body}, nil
}

// get GETs the object from off to its end.
func (s *S3Blobs) get(ctx context.Context, d Digest, off int64) (io.ReadCloser, minio.ObjectInfo, error) {
	var opts minio.GetObjectOptions
	if off > 0 {
		if err := opts.SetRange(off, 0); err != nil {
			return nil, minio.ObjectInfo{}, err
		}
	}
	body, info, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, s.key(d), opts)
	if s3NotFound(err) {
		return nil, info, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, info, fmt.Errorf("blob %s: %w", d, err)
	}
	return body, info, nil
}

func (o *s3Object) Read(p []byte) (int, error) {
	if o.pos >= o.size {
		return 0, io.EOF
	}
	if o.body != nil && o.bodyAt != o.pos {
		if o.pos > o.bodyAt && o.pos-o.bodyAt <= skipAhead {
			n, err := io.CopyN(io.Discard, o.body, o.pos-o.bodyAt)
			o.bodyAt += n
			if err != nil {
				o.dropBody()
			}
		} else {
			o.dropBody()
		}
	}
	if o.body == nil {
		body, _, err := o.s.get(o.ctx, o.d, o.pos)
		if err != nil {
			return 0, err
		}
		o.body, o.bodyAt = body, o.pos
	}
	if rest := o.size - o.pos; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := o.body.Read(p)
	o.pos += int64(n)
	o.bodyAt += int64(n)
	if errors.Is(err, io.EOF) {
		o.dropBody()
		if o.pos < o.size {
			return n, fmt.Errorf("blob %s: %w after %d of %d bytes", o.d, io.ErrUnexpectedEOF, o.pos, o.size)
		}
		err = nil
	}
	return n, err
}

func (o *s3Object) dropBody() {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
}

func (o *s3Object) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.pos
	case io.SeekEnd:
		offset += o.size
	default:
		return o.pos, fmt.Errorf("blob %s: seek: invalid whence %d", o.d, whence)
	}
	if offset < 0 {
		return o.pos, fmt.Errorf("blob %s: seek to a negative offset", o.d)
	}
	o.pos = offset
	return offset, nil
}

func (o *s3Object) Close() error {
	o.dropBody()
	return nil
}
