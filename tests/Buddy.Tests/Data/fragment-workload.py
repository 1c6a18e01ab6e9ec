#!/usr/bin/env python3
# fragment-workload.py: makes a Linux machine's free memory fragmented, so that the kernel falls back
# between migrate types in pieces smaller than a pageblock and compacts — the events
# kmem:mm_page_alloc_extfrag (fragmenting=1) and compaction:mm_compaction_begin/end.
#
#   python3 fragment-workload.py hog DONE_FILE   # fill memory with 4 KiB movable pages (until
#                                                # MemAvailable is down to 1.5 GiB), free every other page, then
#                                                # hold the rest until DONE_FILE exists (OOM victim first)
#   python3 fragment-workload.py fallbacks       # eat the free pageblocks with THP faults, fill pipes
#                                                # with unmovable pages until the unmovable free lists are
#                                                # used up + 4 MiB, then fault 4 more huge pages (which
#                                                # need compaction)
#
# Run hog in the background, wait for "holes made", then trace the fallbacks step; then create
# DONE_FILE. Needs root (pagetypeinfo) and briefly most of the machine's memory.
import mmap, os, sys, time

PAGE = 4096
HUGE = 2 << 20

def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)

def hog(done):
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
    chunks = []
    while meminfo("MemAvailable") > (3 << 29):
        m = mmap.mmap(-1, 256 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        m.madvise(mmap.MADV_NOHUGEPAGE)
        for off in range(0, len(m), PAGE):
            m[off] = 1
        chunks.append(m)
    for m in chunks:
        for off in range(PAGE, len(m), 2 * PAGE):
            m.madvise(mmap.MADV_DONTNEED, off, PAGE)
    print(f"holes made: {len(chunks) * 256} MiB touched, half given back", flush=True)
    while not os.path.exists(done):
        time.sleep(0.2)

def free_pages_at_least(min_order):
    # Free pages in blocks of min_order and above, every zone and type, from /proc/buddyinfo.
    total = 0
    with open("/proc/buddyinfo") as f:
        for line in f:
            counts = [int(c) for c in line.split()[4:]]
            total += sum(c << o for o, c in enumerate(counts) if o >= min_order)
    return total

def free_unmovable_pages():
    # Free pages on the unmovable lists, from /proc/pagetypeinfo (which prints ">100000" for a larger count).
    total = 0
    with open("/proc/pagetypeinfo") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 6 and parts[0] == "Node" and parts[4] == "type" and parts[5] == "Unmovable":
                total += sum(int(c.lstrip(">")) << o for o, c in enumerate(parts[6:]))
    return total

def touch_huge_pages(count):
    m = mmap.mmap(-1, (count + 1) * HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    m.madvise(mmap.MADV_HUGEPAGE)
    for off in range(0, len(m), HUGE):
        m[off] = 1
    return m

def fallbacks():
    blocks = free_pages_at_least(9) // 512
    eaten = touch_huge_pages(blocks)  # held (like the pipes) until the process exits
    pages = free_unmovable_pages() + 1024
    pipes = []
    chunk = b"x" * 65536
    while pages > 0:
        r, w = os.pipe()
        os.write(w, chunk)
        pipes.append((r, w))
        pages -= 16
    compacted = touch_huge_pages(4)
    print(f"{blocks} + 4 huge pages faulted, {len(pipes)} pipes of 64 KiB filled", flush=True)

if __name__ == "__main__":
    if sys.argv[1] == "hog":
        hog(sys.argv[2])
    else:
        fallbacks()
