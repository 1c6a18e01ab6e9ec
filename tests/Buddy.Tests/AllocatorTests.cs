using static Buddy.Units;

namespace Buddy.Tests;

public class AllocatorTests
{
    private static PageAllocator Pc1995() =>
        new(MachineLayout.X86(32 * MiB).Reserve(640 * KiB, 1 * MiB).Reserve(1 * MiB, 2 * MiB));

    [Fact]
    public void A_fresh_allocator_has_every_unreserved_page_free_in_max_order_blocks()
    {
        var pages = new PageAllocator(MachineLayout.X86(64 * MiB) with { Watermarks = WatermarkSettings.None });
        pages.Validate();
        Assert.Equal(16384UL, pages.TotalPages);
        Assert.Equal(16384UL, pages.FreePages);
        Assert.Equal(0UL, pages.AllocatedPages);
        IReadOnlyList<ZoneStats> zones = pages.GetZoneStats();
        Assert.Equal([ZoneKind.Dma, ZoneKind.Dma32], zones.Select(z => z.Kind));
        Assert.Equal(4L, zones[0].FreeBlockCounts[10]);
        Assert.Equal(12L, zones[1].FreeBlockCounts[10]);
    }

    [Theory]
    [InlineData(512UL, 3)]
    [InlineData(4096UL, 10)]
    [InlineData(65536UL, 5)]
    public void Blocks_are_naturally_aligned_on_absolute_addresses_whatever_the_base_and_page_size(ulong pageSize, int maxOrder)
    {
        // Base three pages in, size not a power of two: alignment is on the address, not the offset.
        ulong size = pageSize * ((1UL << maxOrder) * 5 + 7);
        var layout = MachineLayout.Flat(size, baseAddress: 3 * pageSize) with { PageSize = pageSize, MaxOrder = maxOrder };
        var pages = new PageAllocator(layout);
        var blocks = new List<Block>();
        var rng = new Random(7);
        for (int i = 0; i < 200; i++)
        {
            int order = rng.Next(0, maxOrder + 1);
            if (pages.TryAllocate(Request.ForOrder(order), out Block b))
            {
                Assert.Equal(0UL, b.Address % (pageSize << order));
                Assert.True(b.Address >= layout.BaseAddress && b.EndAddress <= layout.EndAddress);
                blocks.Add(b);
            }
        }

        pages.Validate();
        Assert.NotEmpty(blocks);
        foreach (Block b in blocks)
        {
            pages.Free(b);
        }

        pages.Validate();
        Assert.Equal(pages.TotalPages, pages.FreePages);
    }

    [Fact]
    public void Reserved_ranges_are_never_handed_out()
    {
        PageAllocator pages = Pc1995();
        Assert.Equal((384UL * KiB + 1 * MiB) / (4 * KiB), pages.ReservedPages);
        var all = new List<Block>();
        while (pages.TryAllocate(Request.ForOrder(0).WithPriority(AllocationPriority.NoWatermarks), out Block b))
        {
            Assert.False(b.Address >= 640 * KiB && b.Address < 2 * MiB, $"{b} is reserved memory");
            all.Add(b);
        }

        Assert.Equal(pages.TotalPages - pages.ReservedPages, (ulong)all.Count);
        Assert.Equal(0UL, pages.FreePages);
        pages.Validate();
    }

    [Fact]
    public void Isa_dma_64KiB_never_crosses_64KiB_and_128KiB_never_crosses_128KiB_below_16MiB()
    {
        PageAllocator pages = Pc1995();
        var rng = new Random(1);
        var general = new List<Block>();
        for (int round = 0; round < 300; round++)
        {
            // Churn ordinary memory so DMA blocks land in varied places.
            if (rng.Next(3) > 0 && pages.TryAllocate(Request.ForOrder(rng.Next(0, 3)), out Block g))
            {
                general.Add(g);
            }
            else if (general.Count > 0)
            {
                int i = rng.Next(general.Count);
                pages.Free(general[i]);
                general.RemoveAt(i);
            }

            ulong size = rng.Next(2) == 0 ? 64 * KiB : 128 * KiB;
            if (pages.TryAllocate(Request.ForBytes(size).InZone(ZoneKind.Dma).NotCrossing(size), out Block dma))
            {
                Assert.True(dma.EndAddress <= 16 * MiB, $"{dma} is not below 16 MiB");
                Assert.Equal(dma.Address / size, (dma.EndAddress - 1) / size);
                Assert.Equal(size, dma.Size);
                pages.Free(dma);
            }
        }

        pages.Validate();
    }

    [Fact]
    public void A_request_only_low_memory_can_satisfy_succeeds_when_memory_above_16MiB_is_full()
    {
        PageAllocator pages = Pc1995();
        var high = new List<Block>();
        while (true)
        {
            // Reclaim-level priority: fill DMA32 to the last page before anything falls back.
            Block b = pages.Allocate(Request.ForOrder(0).WithPriority(AllocationPriority.NoWatermarks));
            if (b.Address < 16 * MiB)
            {
                pages.Free(b); // the first page that falls back to DMA: memory above 16 MiB is full
                break;
            }

            high.Add(b);
        }

        Assert.Equal(16 * MiB / (4 * KiB), (ulong)high.Count); // every DMA32 page went first
        Assert.Equal(0UL, pages.GetZoneStats()[1].FreePages);
        Block dma = pages.Allocate(Request.ForBytes(128 * KiB).InZone(ZoneKind.Dma).NotCrossing(128 * KiB));
        Assert.True(dma.EndAddress <= 16 * MiB);
        Block masked = pages.Allocate(Request.ForBytes(64 * KiB).WithDmaMask(24));
        Assert.True(masked.EndAddress <= 16 * MiB);
        pages.Validate();
    }

    [Fact]
    public void Zonelist_serves_the_highest_allowed_zone_first_then_falls_back_downward()
    {
        var pages = new PageAllocator(MachineLayout.X86(6 * GiB) with { Watermarks = WatermarkSettings.None, MaxOrder = 10 });
        Assert.True(pages.Allocate(Request.ForOrder(0)).Address >= 4 * GiB);
        Block dma32 = pages.Allocate(Request.ForOrder(0).InZone(ZoneKind.Dma32));
        Assert.InRange(dma32.Address, 16 * MiB, 4 * GiB - 1);
        Assert.True(pages.Allocate(Request.ForOrder(0).InZone(ZoneKind.Dma)).Address < 16 * MiB);
        Block limited = pages.Allocate(Request.ForOrder(3).Below(1 * GiB - 1));
        Assert.InRange(limited.Address, 16 * MiB, 1 * GiB - 32 * KiB);
    }

    [Fact]
    public void Zones_may_have_any_page_aligned_limits_and_may_be_empty()
    {
        var layout = new MachineLayout
        {
            Size = 40 * MiB,
            Zones = [new(ZoneKind.Dma, 12 * MiB + 20 * KiB), new(ZoneKind.Dma32, 64 * MiB), new(ZoneKind.Normal, ulong.MaxValue)],
            Watermarks = WatermarkSettings.None,
        };
        var pages = new PageAllocator(layout);
        pages.Validate();
        IReadOnlyList<ZoneStats> zones = pages.GetZoneStats();
        Assert.Equal(2, zones.Count); // Normal is empty
        Assert.Equal((12 * MiB + 20 * KiB) / (4 * KiB), zones[0].EndPfn);
        var dma = new List<Block>();
        while (pages.TryAllocate(Request.ForOrder(0).InZone(ZoneKind.Dma), out Block b))
        {
            Assert.True(b.EndAddress <= 12 * MiB + 20 * KiB);
            dma.Add(b);
        }

        Assert.Equal(zones[0].ManagedPages, (ulong)dma.Count);
        Assert.False(pages.TryAllocate(Request.ForOrder(0).InZone(ZoneKind.Dma), out _, out AllocationFailure? why));
        Assert.Equal(FailureReason.OutOfMemory, why.Reason);
        pages.Validate();
    }

    [Fact]
    public void Alignment_larger_than_the_block_is_honoured_and_costs_no_memory()
    {
        var pages = new PageAllocator(MachineLayout.Flat(16 * MiB));
        pages.Allocate(Request.ForOrder(0)); // make address 0 unavailable
        Block b = pages.Allocate(Request.ForOrder(0).AlignedTo(1 * MiB));
        Assert.Equal(0UL, b.Address % MiB);
        Assert.Equal(4 * KiB, b.Size);
        Assert.Equal(pages.TotalPages - 2, pages.FreePages);
        pages.Validate();
        Assert.False(pages.TryAllocate(Request.ForOrder(0).AlignedTo(8 * MiB), out _, out AllocationFailure? why));
        Assert.Equal(FailureReason.Unsatisfiable, why.Reason); // above the max-order block (4 MiB)
    }

    [Fact]
    public void A_size_above_its_boundary_is_refused_as_unsatisfiable()
    {
        var pages = new PageAllocator(MachineLayout.Flat(16 * MiB));
        Assert.False(pages.TryAllocate(Request.ForBytes(65 * KiB).NotCrossing(64 * KiB), out _, out AllocationFailure? why));
        Assert.Equal(FailureReason.Unsatisfiable, why.Reason);
        Assert.Contains("boundary", why.Message, StringComparison.Ordinal);
        Block ok = pages.Allocate(Request.ForBytes(64 * KiB).NotCrossing(64 * KiB));
        Assert.Equal(ok.Address / (64 * KiB), (ok.EndAddress - 1) / (64 * KiB));
        var ex = Assert.Throws<AllocationFailedException>(() => pages.Allocate(Request.ForBytes(65 * KiB).NotCrossing(64 * KiB)));
        Assert.Contains("65 KiB", ex.Message, StringComparison.Ordinal);
        Assert.Equal(FailureReason.Unsatisfiable, ex.Failure!.Reason);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(4097UL)]
    [InlineData(20 * KiB)]
    [InlineData(3 * MiB + 1)]
    public void Exact_allocations_keep_only_the_pages_the_size_needs(ulong size)
    {
        var pages = new PageAllocator(MachineLayout.Flat(16 * MiB));
        ulong needed = (size + 4095) / 4096;
        Block b = pages.Allocate(Request.ForBytes(size).Exact());
        Assert.Equal(needed, b.PageCount);
        Assert.Equal(needed, pages.AllocatedPages);
        Assert.Equal(pages.TotalPages - needed, pages.FreePages);
        Assert.Equal(0UL, b.Address % (4096UL << b.Order));
        pages.Validate();

        // The tail is really free: the pages right after the block can be allocated.
        if (!PageMath.IsPowerOfTwo(needed))
        {
            Block next = pages.Allocate(Request.ForOrder(0).Below(b.Address + (4096UL << b.Order) - 1));
            Assert.True(next.Address >= b.EndAddress && next.Address < b.Address + (4096UL << b.Order));
            pages.Free(next);
        }

        pages.Free(b.Address); // by address frees the whole exact run
        Assert.Equal(pages.TotalPages, pages.FreePages);
        pages.Validate();
    }

    [Fact]
    public void Free_by_handle_by_address_and_by_address_and_order_all_merge_back_to_the_start()
    {
        PageAllocator pages = Pc1995();
        string initial = pages.GetBuddyInfo().ToString();
        Block a = pages.Allocate(Request.ForOrder(3));
        Block b = pages.Allocate(Request.ForOrder(0));
        Block c = pages.Allocate(Request.ForOrder(5).InZone(ZoneKind.Dma));
        Assert.NotEqual(initial, pages.GetBuddyInfo().ToString());
        pages.Free(a);
        pages.Free(b.Address);
        pages.Free(c.Address, 5);
        Assert.Equal(initial, pages.GetBuddyInfo().ToString());
        pages.Validate();
    }

    [Fact]
    public void Placement_is_deterministic()
    {
        static List<ulong> Run()
        {
            PageAllocator pages = Pc1995();
            var rng = new Random(42);
            var live = new List<Block>();
            var addresses = new List<ulong>();
            for (int i = 0; i < 2000; i++)
            {
                if (live.Count > 0 && rng.Next(2) == 0)
                {
                    int k = rng.Next(live.Count);
                    pages.Free(live[k]);
                    live.RemoveAt(k);
                }
                else if (pages.TryAllocate(Request.ForOrder(rng.Next(0, 5)), out Block b))
                {
                    live.Add(b);
                    addresses.Add(b.Address);
                }
            }

            return addresses;
        }

        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void Watermarks_and_lowmem_reserve_follow_the_kernel_formulas()
    {
        // 1 GiB at 4 KiB: DMA 4096 pages (minus page 0 reserved as the BIOS keeps it), DMA32 the rest.
        var pages = new PageAllocator(MachineLayout.X86(1 * GiB).Reserve(0, 4 * KiB) with { Watermarks = new WatermarkSettings { MinFreeKbytes = 4096 } });
        IReadOnlyList<ZoneStats> z = pages.GetZoneStats();
        ulong dma = 4095, dma32 = 262144 - 4096, lowmem = dma + dma32, pagesMin = 4096 / 4;
        Assert.Equal(dma, z[0].ManagedPages);
        Assert.Equal(pagesMin * dma / lowmem, z[0].Watermarks.Min);
        ulong step = Math.Max(pagesMin * dma32 / lowmem / 4, dma32 * 10 / 10000);
        Assert.Equal(pagesMin * dma32 / lowmem + step, z[1].Watermarks.Low);
        Assert.Equal(dma32 / 256, z[0].Protection[1]);
        Assert.Equal(dma32 / 256, z[0].Protection[2]); // Normal is empty
        Assert.Equal(0UL, z[1].Protection[2]);
    }

    [Fact]
    public void The_lowmem_reserve_keeps_ordinary_requests_out_of_the_dma_zone()
    {
        var pages = new PageAllocator(MachineLayout.X86(1 * GiB));
        ZoneStats dma = pages.GetZoneStats()[0];
        var taken = new List<Block>();
        while (pages.TryAllocate(Request.ForOrder(0), out Block b))
        {
            taken.Add(b);
        }

        ulong dmaTaken = (ulong)taken.Count(b => b.Address < 16 * MiB);
        ulong dmaFree = dma.ManagedPages - dmaTaken;

        // Ordinary requests stop once the DMA zone is down to min + protection against DMA32
        // requests (a zone serves while its free pages are above that, as __zone_watermark_ok says).
        Assert.Equal(dma.Watermarks.Min + dma.Protection[1], dmaFree);

        // DMA's own requests still get memory, down to its min watermark.
        Assert.True(pages.TryAllocate(Request.ForOrder(0).InZone(ZoneKind.Dma), out Block own));
        Assert.True(own.Address < 16 * MiB);
        pages.Validate();
    }

    [Fact]
    public void High_priority_requests_dip_below_min_and_no_watermarks_takes_every_page()
    {
        var pages = new PageAllocator(MachineLayout.Flat(64 * MiB) with { Watermarks = new WatermarkSettings { MinFreeKbytes = 1024 } });
        ulong min = pages.GetZoneStats()[0].Watermarks.Min;
        Assert.Equal(256UL, min);
        int normal = 0, high = 0, atomic = 0, unlimited = 0;
        while (pages.TryAllocate(Request.ForOrder(0), out _))
        {
            normal++;
        }

        Assert.Equal(min, pages.FreePages); // serves while free pages are above min
        while (pages.TryAllocate(Request.ForOrder(0).WithPriority(AllocationPriority.High), out _))
        {
            high++;
        }

        Assert.Equal(min - (min / 2), pages.FreePages);
        while (pages.TryAllocate(Request.ForOrder(0).WithPriority(AllocationPriority.Atomic), out _))
        {
            atomic++;
        }

        ulong half = min - (min / 2);
        Assert.Equal(half - (half / 4), pages.FreePages);
        while (pages.TryAllocate(Request.ForOrder(0).WithPriority(AllocationPriority.NoWatermarks), out _))
        {
            unlimited++;
        }

        Assert.Equal(0UL, pages.FreePages);
        Assert.True(normal > 0 && high > 0 && atomic > 0 && unlimited > 0);
        pages.Validate();
    }

    [Fact]
    public void Turning_watermarks_off_makes_every_page_usable()
    {
        var pages = new PageAllocator(MachineLayout.X86(64 * MiB) with { Watermarks = WatermarkSettings.None });
        int count = 0;
        while (pages.TryAllocate(Request.ForOrder(0), out _))
        {
            count++;
        }

        Assert.Equal(pages.TotalPages, (ulong)count);
    }

    [Fact]
    public void Failures_name_the_right_reason()
    {
        var pages = new PageAllocator(MachineLayout.X86(32 * MiB) with { Watermarks = WatermarkSettings.None, MaxOrder = 10 });

        // Fragment everything: take all pages, free every other one.
        var all = new List<Block>();
        while (pages.TryAllocate(Request.ForOrder(0), out Block b))
        {
            all.Add(b);
        }

        Assert.False(pages.TryAllocate(Request.ForOrder(0), out _, out AllocationFailure? oom));
        Assert.Equal(FailureReason.OutOfMemory, oom.Reason);
        foreach (Block b in all.Where(b => b.Pfn % 2 == 0))
        {
            pages.Free(b);
        }

        Assert.False(pages.TryAllocate(Request.ForOrder(1), out _, out AllocationFailure? frag));
        Assert.Equal(FailureReason.Fragmented, frag.Reason);
        Assert.Contains("order-1", frag.Message, StringComparison.Ordinal);

        // One free order-1 block, at 20 MiB: a request limited to 18 MiB sees the address limit.
        Block odd = all.First(b => b.Address >= 20 * MiB && b.Pfn % 2 == 1);
        pages.Free(odd);
        Assert.False(pages.TryAllocate(Request.ForOrder(1).Below((18 * MiB) - 1), out _, out AllocationFailure? limit));
        Assert.Equal(FailureReason.AddressLimit, limit.Reason);
        Assert.True(pages.TryAllocate(Request.ForOrder(1), out _));
        pages.Validate();

        var guarded = new PageAllocator(MachineLayout.Flat(1 * MiB) with { Watermarks = new WatermarkSettings { MinFreeKbytes = 512 } });
        while (guarded.TryAllocate(Request.ForOrder(0), out _))
        {
        }

        Assert.False(guarded.TryAllocate(Request.ForOrder(0), out _, out AllocationFailure? wmark));
        Assert.Equal(FailureReason.Watermark, wmark.Reason);
        Assert.Contains("min", wmark.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_arguments_throw_ArgumentException_naming_the_argument()
    {
        var pages = new PageAllocator(MachineLayout.Flat(16 * MiB));
        Assert.Equal("request", Assert.Throws<ArgumentOutOfRangeException>(() => pages.TryAllocate(Request.ForOrder(11), out _)).ParamName);
        Assert.Equal("request", Assert.Throws<ArgumentOutOfRangeException>(() => pages.Allocate(Request.ForBytes(1 * GiB))).ParamName);
        Assert.Equal("order", Assert.Throws<ArgumentOutOfRangeException>(() => Request.ForOrder(-1)).ParamName);
        Assert.Equal("order", Assert.Throws<ArgumentOutOfRangeException>(() => Request.ForOrder(64)).ParamName);
        Assert.Equal("bytes", Assert.Throws<ArgumentOutOfRangeException>(() => Request.ForBytes(0)).ParamName);
        Assert.Equal("pages", Assert.Throws<ArgumentOutOfRangeException>(() => Request.ForPages(0)).ParamName);
        Assert.Equal("alignment", Assert.Throws<ArgumentException>(() => Request.ForOrder(0).AlignedTo(3 * KiB)).ParamName);
        Assert.Equal("alignment", Assert.Throws<ArgumentException>(() => Request.ForOrder(0).AlignedTo(0)).ParamName);
        Assert.Equal("boundary", Assert.Throws<ArgumentException>(() => Request.ForOrder(0).NotCrossing(96 * KiB)).ParamName);
        Assert.Equal("bits", Assert.Throws<ArgumentOutOfRangeException>(() => Request.ForOrder(0).WithDmaMask(0)).ParamName);
        Assert.Equal("order", Assert.Throws<ArgumentOutOfRangeException>(() => pages.Free(0, 11)).ParamName);
        pages.Validate();
        Assert.Equal(pages.TotalPages, pages.FreePages);
    }

    [Theory]
    [InlineData(1000UL, 4096UL, "Size")]
    [InlineData(8192UL, 3000UL, "PageSize")]
    [InlineData(8192UL, 256UL, "PageSize")]
    public void Invalid_layouts_are_refused_naming_the_setting(ulong size, ulong pageSize, string setting)
    {
        var layout = MachineLayout.Flat(size) with { PageSize = pageSize };
        Assert.Equal(setting, Assert.Throws<ArgumentException>(() => new PageAllocator(layout)).ParamName);
    }

    [Fact]
    public void Max_order_30_over_a_large_abstract_space()
    {
        // 2^31 pages of 512 bytes (1 TiB): two order-30 blocks, and idle metadata stays small.
        var pages = new PageAllocator(MachineLayout.Flat(1 * TiB) with { PageSize = 512, MaxOrder = 30 });
        Block huge = pages.Allocate(Request.ForOrder(30));
        Assert.Equal(0UL, huge.Address % (512UL << 30));
        Block small = pages.Allocate(Request.ForOrder(0));
        Assert.Equal(512UL << 30, small.Address); // the lowest page of the other block
        pages.Free(small);
        pages.Free(huge);
        Assert.True(pages.MetadataBytes < 64 * (long)MiB, $"{pages.MetadataBytes} bytes of metadata");
    }

    [Theory]
    [InlineData(false, 9.0)]
    [InlineData(true, 9.0)]
    public void Metadata_is_at_most_half_a_byte_per_page_idle_and_bounded_when_fragmented(bool threadCaches, double worstBound)
    {
        // Idle, at most half a byte per page. Fragmented, the 64-bit allocation stamps dominate: 8 bytes
        // per page whose chunk is live, the price of refusing stale handles (docs/design.md, "Misuse and faults").
        var pages = new PageAllocator(MachineLayout.X86(1 * GiB) with { Watermarks = WatermarkSettings.None, PerCpuCaches = threadCaches });
        Assert.True(pages.MetadataBytes <= (long)pages.TotalPages / 2, $"idle: {pages.MetadataBytes} bytes for {pages.TotalPages} pages");
        var all = new List<Block>();
        while (pages.TryAllocate(Request.ForOrder(0), out Block b))
        {
            all.Add(b);
        }

        for (int i = 0; i < all.Count; i += 2)
        {
            pages.Free(all[i]);
        }

        // Worst case: every other page free, so every order-0 word, every split bit and every
        // allocation-head chunk is live.
        double perPage = (double)pages.MetadataBytes / pages.TotalPages;
        Assert.True(perPage <= worstBound, $"fragmented: {perPage:F3} bytes per page");
        Assert.True(perPage > worstBound - 1.0, $"fragmented: {perPage:F3} bytes per page, less than the layout explains: is every chunk counted?");
    }

    [Fact]
    public void Concurrent_allocations_and_frees_keep_every_invariant()
    {
        var pages = new PageAllocator(MachineLayout.X86(256 * MiB));
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            var rng = new Random(t);
            var live = new List<Block>();
            for (int i = 0; i < 20_000; i++)
            {
                if (live.Count > 0 && rng.Next(2) == 0)
                {
                    int k = rng.Next(live.Count);
                    pages.Free(live[k]);
                    live.RemoveAt(k);
                }
                else if (pages.TryAllocate(Request.ForOrder(rng.Next(0, 4)).InZone(rng.Next(4) == 0 ? ZoneKind.Dma : ZoneKind.Normal), out Block b))
                {
                    live.Add(b);
                }
            }

            foreach (Block b in live)
            {
                pages.Free(b);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        pages.Validate();
        Assert.Equal(0UL, pages.AllocatedPages);
        Assert.Equal(pages.TotalPages, pages.FreePages);
    }

    [Fact]
    public void FreeRange_frees_exactly_the_pages_it_names_and_the_rest_stays_allocated()
    {
        var pages = new PageAllocator(MachineLayout.Flat(16 * MiB));
        Block b = pages.Allocate(Request.ForOrder(4)); // 16 pages
        pages.FreeRange(b.Address + (5 * 4 * KiB), 3); // pages 5..7
        Assert.Equal(13UL, pages.AllocatedPages);
        pages.Validate();
        Assert.Throws<ArgumentException>(() => pages.FreeRange(b.Address + (6 * 4 * KiB), 1)); // already free
        Assert.Equal(13UL, pages.AllocatedPages);
        pages.Free(b.Address + (4 * 4 * KiB)); // page 4 is now a block of its own
        pages.FreeRange(b.Address, 4);
        pages.FreeRange(b.Address + (8 * 4 * KiB), 8);
        Assert.Equal(0UL, pages.AllocatedPages);
        Assert.Equal(pages.TotalPages, pages.FreePages);
        pages.Validate();
    }
}
