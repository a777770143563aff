"""The service in ten lines: the runtime in a Starlette lifespan, a route that calls the model.

    uvicorn examples.service.app:app --port 8000      # from the repository root
"""
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import neural_actors as na
from neural_actors.inference import infer_request
from neural_actors.tiny_fff import TinyFFF

MODEL = na.ChildSpec(id="model", start=(TinyFFF, ()), name="model")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with na.Runtime() as rt:  # leaving it stops the tree in order
        await rt.start(na.Supervisor, na.SupervisorFlags(), [MODEL])
        app.state.rt = rt
        yield


async def infer(request: Request) -> JSONResponse:
    reply = await request.app.state.rt.call("model", infer_request((await request.json())["x"]), timeout=2.0)
    return JSONResponse({"y": reply.y.tolist()})


app = Starlette(routes=[Route("/infer", infer, methods=["POST"])], lifespan=lifespan)
