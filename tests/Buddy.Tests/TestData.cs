// TestData: paths of the files under Data/ (copied next to the test assembly).
namespace Buddy.Tests;

internal static class TestData
{
    public static string Path(string name) => System.IO.Path.Combine(AppContext.BaseDirectory, "Data", name);

    public static string Read(string name) => File.ReadAllText(Path(name));
}
