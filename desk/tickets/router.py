"""HTTP routes of desk.tickets."""

from fastapi import APIRouter

router = APIRouter()
