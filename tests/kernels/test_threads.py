"""``thread_count`` in compiled code: the count ``numba.get_num_threads`` gives, per calling
thread, and no obstacle to numba's on-disk cache."""

import subprocess
import sys
import textwrap
import threading

import numba
import pytest
from neural_actors.kernels.threads import thread_count


@numba.njit
def _thread_count():
    return thread_count()


def test_thread_count_is_numbas_count():
    assert _thread_count() == numba.get_num_threads()


def test_thread_count_follows_set_num_threads_on_the_calling_thread_only():
    threads = numba.get_num_threads()
    seen = {}

    def on_one_thread():
        numba.set_num_threads(1)
        seen["set here"] = _thread_count()

    worker = threading.Thread(target=on_one_thread)
    worker.start()
    worker.join()
    assert seen == {"set here": 1}
    assert _thread_count() == threads


@pytest.mark.parametrize("parallel", [True, False])
def test_a_kernel_using_it_is_cached_and_loads_from_the_cache(tmp_path, parallel):
    """Numba refuses to cache a function that reads the count through its own
    ``get_num_threads`` (a ctypes pointer); one using ``thread_count`` is written to the cache
    in one process and loaded from it in the next, where it runs before anything else has
    started numba's thread pool (a function that is not parallel once crashed there)."""
    (tmp_path / "counted.py").write_text(textwrap.dedent(f"""
        import numba, warnings
        from neural_actors.kernels.threads import thread_count

        @numba.njit(cache=True, parallel={parallel})
        def blocks(n):
            total = 0
            for i in numba.prange(thread_count()):
                total += n
            return total

        warnings.simplefilter("error", numba.NumbaWarning)
        result = blocks(3)
        assert result == 3 * numba.get_num_threads(), result
        print(sum(blocks.stats.cache_hits.values()))
    """))
    runs = [
        subprocess.run([sys.executable, "counted.py"], cwd=tmp_path, capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    assert [run.stdout.strip() for run in runs] == ["0", "1"]
