"""HTTP routes of desk.auth."""

from fastapi import APIRouter

router = APIRouter()
