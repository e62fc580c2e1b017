package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	dockerTimeout = 60 * time.Second // one docker or compose command
	buildTimeout  = 5 * time.Minute  // go build of the binary, cold cache included
	probeTimeout  = 15 * time.Second // docker info, compose version
	cleanupTime   = 90 * time.Second // compose down and image removal
	imageUser     = 65532            // USER of the Dockerfile
	subnetBase    = "172.30.0.0/16"  // the test's /24 network is carved from here
	outputLimit   = 16 << 10         // bytes of a failed command's output kept for its error
	logTailLines  = 40               // lines of it
)

// runCmd runs name args with its own timeout and returns its standard
// output; the error carries the command line and the end of its output and
// standard error.
func runCmd(ctx context.Context, timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (after %v)", ctx.Err(), timeout)
		}
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err,
			tail(stdout.String()+stderr.String()))
	}
	return stdout.String(), nil
}

// tail is the last lines of a command's output.
func tail(out string) string {
	if len(out) > outputLimit {
		out = out[len(out)-outputLimit:]
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return strings.Join(lines, "\n")
}

// dockerEngine reports why no Docker engine can be used, or nil.
func dockerEngine(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("no docker command: %w", err)
	}
	_, err := runCmd(ctx, probeTimeout, nil, "docker", "info")
	return err
}

// composeCommand is `docker compose` when that plugin works, else
// docker-compose (v1).
func composeCommand(ctx context.Context) ([]string, error) {
	if _, err := runCmd(ctx, probeTimeout, nil, "docker", "compose", "version"); err == nil {
		return []string{"docker", "compose"}, nil
	}
	_, err := runCmd(ctx, probeTimeout, nil, "docker-compose", "version")
	if err == nil {
		return []string{"docker-compose"}, nil
	}
	return nil, fmt.Errorf("neither `docker compose` nor docker-compose works: %w", err)
}

// rootlessDocker reports whether the engine runs rootless, where the
// container's root is the invoking user.
func rootlessDocker(ctx context.Context) (bool, error) {
	out, err := runCmd(ctx, probeTimeout, nil, "docker", "info", "--format", "{{json .SecurityOptions}}")
	if err != nil {
		return false, err
	}
	return strings.Contains(out, "rootless"), nil
}

// freeSubnet picks a /24 inside subnetBase that overlaps no Docker network
// and no host route, starting from an offset of seed so that concurrent runs
// try different ones. It returns the first three octets, e.g. "172.30.57".
func freeSubnet(ctx context.Context, seed int) (string, error) {
	taken, err := dockerSubnets(ctx)
	if err != nil {
		return "", err
	}
	routes, err := hostRoutes()
	if err != nil {
		return "", err
	}
	taken = append(taken, routes...)
	base := netip.MustParsePrefix(subnetBase).Addr().As4()
	for k := range 250 {
		third := 1 + (seed+k)%250
		cand := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte(third), 0}), 24)
		free := true
		for _, p := range taken {
			if p.Overlaps(cand) {
				free = false
				break
			}
		}
		if free {
			return fmt.Sprintf("%d.%d.%d", base[0], base[1], third), nil
		}
	}
	return "", fmt.Errorf("no free /24 in %s", subnetBase)
}

// dockerSubnets lists the subnets of every Docker network.
func dockerSubnets(ctx context.Context) ([]netip.Prefix, error) {
	out, err := runCmd(ctx, dockerTimeout, nil, "docker", "network", "ls", "-q")
	if err != nil {
		return nil, err
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil
	}
	args := append([]string{"network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"}, ids...)
	if out, err = runCmd(ctx, dockerTimeout, nil, "docker", args...); err != nil {
		// A network removed between ls and inspect: try once more.
		if out, err = runCmd(ctx, dockerTimeout, nil, "docker", args...); err != nil {
			return nil, err
		}
	}
	var subnets []netip.Prefix
	for _, f := range strings.Fields(out) {
		if p, err := netip.ParsePrefix(f); err == nil {
			subnets = append(subnets, p)
		}
	}
	return subnets, nil
}

// hostRoutes are the IPv4 destinations of the host's routing table, the
// default route left out.
func hostRoutes() ([]netip.Prefix, error) {
	f, err := os.Open("/proc/net/route")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("host routes: %w", err)
	}
	defer f.Close()
	var routes []netip.Prefix
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[0] == "Iface" {
			continue
		}
		dst, err1 := strconv.ParseUint(fields[1], 16, 32)
		mask, err2 := strconv.ParseUint(fields[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue
		}
		var a [4]byte
		binary.LittleEndian.PutUint32(a[:], uint32(dst))
		routes = append(routes, netip.PrefixFrom(netip.AddrFrom4(a), bits.OnesCount32(uint32(mask))).Masked())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("host routes: %w", err)
	}
	return routes, nil
}

// chownTree hands a replica directory to the image's user.
func chownTree(root string, uid, gid int) error {
	return filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.Mode()&os.ModeSymlink != 0 {
			return nil
		}
		return os.Lchown(path, uid, gid)
	})
}

// skipWithoutDocker skips t, with the reason, when no Docker engine runs.
func skipWithoutDocker(t *testing.T) {
	t.Helper()
	if err := dockerEngine(t.Context()); err != nil {
		t.Skipf("skipping the container test: no Docker engine runs here (%s)", briefly(err.Error()))
	}
}

// briefly is the first and the last line of a command's error: what ran,
// and what it said last.
func briefly(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) == 1 {
		return lines[0]
	}
	return lines[0] + ": " + strings.TrimSpace(lines[len(lines)-1])
}
