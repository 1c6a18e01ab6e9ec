// MapFrame: one moment of a run kept for pictures — the step it was taken at and the allocator's
// state then — so a report can show fragmentation as it unfolds and `buddy map --frames` animate it.
namespace Buddy.Simulation.Metrics;

/// <summary>A policy's general allocator as it was after <paramref name="Step"/> events or steps.</summary>
/// <param name="Step">Events (replay) or steps (scenario) done when the frame was taken.</param>
/// <param name="Dump">The allocator's state then.</param>
public sealed record MapFrame(long Step, Diagnostics.AllocatorDump Dump);
