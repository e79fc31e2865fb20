"""The shop as a FastAPI service: async endpoints on an AsyncSession, a sync one on a Session.

Production builds its engines from SHOP_DATABASE_URL; tests override the two
session dependencies with sessions on the test's connection.
"""

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from .orm import Session as SyncSession
from .orm import User

AsyncSessionLocal = async_sessionmaker(create_async_engine("postgresql+psycopg:///shop"), expire_on_commit=False)
app = FastAPI()


class NewUser(BaseModel):
    email: str
    name: str


async def get_session() -> AsyncIterator[AsyncSession]:
    async with AsyncSessionLocal() as session:
        yield session


def get_sync_session() -> Iterator[Session]:
    with SyncSession() as session:
        yield session


@app.post("/users", status_code=201)
async def create_user(user: NewUser, session: Annotated[AsyncSession, Depends(get_session)]) -> dict:
    row = User(email=user.email, name=user.name)
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise HTTPException(409, f"{user.email} is taken") from None
    return {"id": row.id, "email": row.email}


@app.get("/users/{user_id}")
async def read_user(user_id: int, session: Annotated[AsyncSession, Depends(get_session)]) -> dict:
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(404, "no such user")
    return {"id": row.id, "email": row.email, "name": row.name}


@app.get("/users-count")
def count_users(session: Annotated[Session, Depends(get_sync_session)]) -> dict:
    return {"count": session.scalar(select(func.count()).select_from(User))}
