# pty-driver.py: runs a command under a pseudo-terminal and plays a script against its screen, for the
# REPL's terminal tests. argv: the command; stdin: a JSON list of steps {"wait": seconds, "send": text,
# "expect": regex, "timeout": seconds}; each step waits (when it says so), sends its text, then reads
# until the regex matches the output since the send. Prints a JSON list of {"output": text since the send, "ms": time to the match} (or
# {"error": ...} at the first step that timed out), then the exit status of the command.
import fcntl, json, os, pty, re, select, struct, sys, termios, time

steps = json.load(sys.stdin)
pid, fd = pty.fork()
if pid != 0:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))  # 40 rows x 120 columns
if pid == 0:
    os.environ['TERM'] = 'xterm'
    os.execvp(sys.argv[1], sys.argv[1:])
results = []
buf = b''
def read_until(pattern, timeout):
    global buf
    end = time.monotonic() + timeout
    while True:
        m = re.search(pattern.encode(), buf)
        if m:
            out = buf[:m.end()]
            buf = buf[m.end():]
            return out
        left = end - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b''
            if not chunk:
                time.sleep(0.01)
                if time.monotonic() > end:
                    return None
                continue
            buf += re.sub(rb'\x1b\[[0-9;?]*[A-Za-z]', b'', chunk)  # the screen's text, cursor moves dropped
for step in steps:
    # Typed one key at a time (a chunk of several keys reads as a paste, where Tab is a plain tab); the
    # time runs from the last key.
    time.sleep(step.get('wait', 0))
    text = step.get('send', '')
    for i, ch in enumerate(text):
        if i:
            time.sleep(0.01)
        os.write(fd, ch.encode())
    t0 = time.monotonic()
    out = read_until(step.get('expect', ''), step.get('timeout', 20))
    if out is None:
        results.append({'error': 'timeout', 'output': buf.decode('utf8', 'replace')})
        break
    results.append({'output': out.decode('utf8', 'replace'), 'ms': (time.monotonic() - t0) * 1000})
try:
    os.kill(pid, 9) if results and 'error' in results[-1] else None
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
except ChildProcessError:
    code = None
print(json.dumps({'steps': results, 'status': code}))
